"""Datasets: readers of the formats users bring (MNIST IDX files, image folders) and the
generators of the data nnport makes itself.

May import: ``nnport.model``. Evaluation (``nnport.verify``) and the training recipes
(``nnport.recipes``) read their data through this room.
"""
