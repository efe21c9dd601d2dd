"""``check``: does a model run on a target? The walker (``walker``) visits every node with a
``Context`` (``context``) and asks the rules: node rules (``rules``, ``input_rules``,
``value_rules``, ``shape_rules``), graph I/O (``io_rules``), the batch axis (``batch_axis``,
``batch_size``); ``defects/`` holds one module per measured runtime defect. Each finding is a
``Violation`` (``violations``) naming the pass that fixes it (``fixes``).

May import: ``nnport.model``, ``nnport.targets``. Add a rule to the module of its kind and call it
from ``rules.node_violations`` (or the walker for graph-wide rules); add a defect under
``defects/`` and list it in ``defects/registry.py`` and in ``targets.profile.DEFECT_NAMES``.
"""

from __future__ import annotations

from nnport.check.violations import RULES, CheckReport, Violation, ViolationGroup
from nnport.check.walker import check

__all__ = ["RULES", "CheckReport", "Violation", "ViolationGroup", "check"]
