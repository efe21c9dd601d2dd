"""scripts/make_bisect_example.py makes the README's bisect example, and bisect finds its fault."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nnport.model import load
from nnport.results import loads
from nnport.verify.compare import CompareResult

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_bisect_example.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_bisect_example", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_faulty_copy_is_found_by_bisect(resnet18_export: Path, tmp_path: Path, cli: Any) -> None:
    faulty = tmp_path / "resnet18_faulty.onnx"
    name = _script().make_faulty(resnet18_export, faulty)
    assert name == "/layer1/layer1.0/Add"  # the node the README's output names
    ops = [(n.name, n.op_type) for n in load(faulty).graph]
    original = [(n.name, n.op_type) for n in load(resnet18_export).graph]
    assert [a for a, b in zip(original, ops, strict=True) if a != b] == [(name, "Add")]
    run = cli("compare", resnet18_export, "--against", faulty, "--bisect", "--json")
    assert run.code == 1, run.err
    result = loads(CompareResult, run.out)
    assert result.bisect is not None and result.bisect.node == name


@pytest.mark.slow
def test_script_writes_both_files(tmp_path: Path) -> None:
    pytest.importorskip("torchvision")
    assert _script().main(["-o", str(tmp_path)]) == 0
    assert (tmp_path / "resnet18.onnx").is_file() and (tmp_path / "resnet18_faulty.onnx").is_file()
    assert [n.op_type for n in load(tmp_path / "resnet18_faulty.onnx").graph].count("Sub") == 1
