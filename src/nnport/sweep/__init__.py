"""``nnport sweep``: many cells (model × target × precision × verb) on Ray, resumable.

``plan`` reads and validates a plan file and expands it into cells, each keyed by the model
file's hash, target, precision, verb, options and nnport's version; ``cell`` runs one cell
through the verb's own library function and returns its row; ``results`` appends rows to
``results.jsonl`` and knows which cells are finished; ``engine`` runs the cells as Ray tasks
(a local instance or a cluster), with a deadline per cell, and records a crashed, killed or
timed-out cell as failed. Ray is an optional extra, imported only here.

May import every room below ``report`` (``check``, ``passes``, ``verify``, ``bench``,
``pipeline``, ...).
"""
