"""Make the README's bisect example: resnet18.onnx and resnet18_faulty.onnx (one Add -> Sub).

Usage: .venv/bin/python scripts/make_bisect_example.py [-o DIR] [--add-index N]

resnet18.onnx is torchvision's ResNet-18 with random weights (seed 0; nothing is downloaded),
exported by torch.onnx at opset 17 with input 'input' 1x3x224x224 and output 'logits'.
resnet18_faulty.onnx is the same file with its N-th Add (default 0, the first residual
connection, '/layer1/layer1.0/Add') turned into a Sub: the fault `nnport compare --bisect`
finds. Needs the torch extra (scripts/setup-venv installs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def export_resnet18(path: Path) -> Path:
    """torchvision ResNet-18, random weights (seed 0), exported at opset 17."""
    import torch
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    torch.onnx.export(
        model, (torch.randn(1, 3, 224, 224),), str(path), input_names=["input"],
        output_names=["logits"], opset_version=17, dynamo=False,
    )  # fmt: skip
    return path


def make_faulty(source: Path, out: Path, add_index: int = 0) -> str:
    """Copy ``source`` with its ``add_index``-th Add turned into Sub; the node's name."""
    from nnport.model import load, save

    model = load(source)
    adds = [n for n in model.graph if n.op_type == "Add"]
    if not 0 <= add_index < len(adds):
        raise SystemExit(f"--add-index {add_index}: the model has {len(adds)} Add nodes")
    node = adds[add_index]
    node.op_type = "Sub"
    save(model, out)
    return node.name or ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("."), help="output folder")
    parser.add_argument("--add-index", type=int, default=0, help="which Add becomes a Sub")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    source = export_resnet18(args.output / "resnet18.onnx")
    faulty = args.output / "resnet18_faulty.onnx"
    name = make_faulty(source, faulty, args.add_index)
    print(f"wrote {source} and {faulty} (node {name!r}: Add -> Sub)")
    print(f"try: nnport compare {source} --against {faulty} -b openvino --bisect")
    return 0


if __name__ == "__main__":
    sys.exit(main())
