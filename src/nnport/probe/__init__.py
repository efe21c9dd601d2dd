"""``nnport targets probe``: derive a target profile from a runtime installed here.

``engine`` runs the cases (``cases``: the ONNX backend node suite and nnport's exporter cases,
``batch``: their batch-one variants) through a runtime in worker processes (``pool``,
``worker``) and records ``outcomes``; ``derive`` turns the outcomes into a profile (``evidence``,
``limits``, ``versions``, ``graph``); ``table`` compares check's verdicts with the outcomes;
``reproduce`` tells whether a runtime still has a measured defect.

May import: ``nnport.model``, ``nnport.targets``, ``nnport.check``, ``nnport.backends``.
"""
