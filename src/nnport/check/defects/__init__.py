"""Measured runtime defects: patterns a runtime gets wrong that no profile entry can state.

One module per defect, each with ``detect`` (the violation's message for a node, or None) and
``repro`` (a minimal model showing it); ``registry.DEFECTS`` lists them with their rule and fix.
A profile names the defects its runtime has (``targets.profile.DEFECT_NAMES``).

May import: ``nnport.model``, ``nnport.targets``, and ``nnport.check``'s rule helpers.
"""
