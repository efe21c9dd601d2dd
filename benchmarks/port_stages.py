"""Each ``port`` stage against the verb that does the same work alone, on a mid-size model.

Usage: python benchmarks/port_stages.py [--target onnxruntime] [--layers 4] [--model PATH]

Without --model, a Whisper-tiny-sized encoder is built with torch (two Conv1d, 4 transformer
layers of width 384, random weights, no download) and exported at opset 17. Then, in this one
process and on the same files:
- ``port`` runs to --target and its stage times are read from its result;
- ``compare ORIGINAL --against FIXED -b onnxruntime`` (the verb, as ``nnport compare`` runs it)
  and ``fix`` are timed alone.
port's compare stage should cost what the compare verb costs (issue 21: 56 s against 1.6 s on
a Whisper-tiny encoder when port bisected every agreeing pair).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def export_encoder(path: Path, layers: int) -> Path:
    """A Whisper-tiny-like audio encoder: conv stem, positional add, pre-norm transformer."""
    import torch
    from torch import nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv1d(80, 384, 3, padding=1)
            self.conv2 = nn.Conv1d(384, 384, 3, stride=2, padding=1)
            self.pos = nn.Parameter(torch.randn(1, 750, 384) * 0.02)
            layer = nn.TransformerEncoderLayer(
                384, 6, 1536, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(384)

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            x = nn.functional.gelu(self.conv1(mel))
            x = nn.functional.gelu(self.conv2(x)).transpose(1, 2) + self.pos
            return self.norm(self.blocks(x))

    torch.manual_seed(0)
    model = Encoder().eval()
    torch.onnx.export(
        model, (torch.randn(1, 80, 1500),), str(path), input_names=["mel"],
        output_names=["hidden"], opset_version=17, dynamo=False,
    )  # fmt: skip
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="onnxruntime")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args(argv)

    import nnport
    from nnport.passes import FixOptions, fix
    from nnport.pipeline import PortOptions, port
    from nnport.targets import load_target
    from nnport.verify.compare import CompareOptions, compare

    with tempfile.TemporaryDirectory(prefix="nnport-bench-") as tmp:
        work = Path(tmp)
        path = args.model or export_encoder(work / "encoder.onnx", args.layers)
        model = nnport.load(path)
        start = time.perf_counter()
        result = port(model, args.target, work / "out", PortOptions(bench_iterations=0))
        port_total = time.perf_counter() - start
        fixed = nnport.load(result.output)

        start = time.perf_counter()
        fix(nnport.load(path), load_target(args.target), options=FixOptions(samples=2))
        fix_alone = time.perf_counter() - start
        start = time.perf_counter()
        verb = compare(
            nnport.load(path),
            against=fixed,
            backend="onnxruntime",
            options=CompareOptions(rtol=1e-4, atol=1e-5, samples=2),
        )
        compare_alone = time.perf_counter() - start

    print(f"model: {path.name}, target {args.target}, {len(list(model.graph))} nodes")
    print(f"{'stage':28s} {'seconds':>8s}")
    for stage in result.stages:
        print(f"{stage.name:28s} {stage.seconds:8.2f}  {stage.status}")
    print(f"{'port total':28s} {port_total:8.2f}")
    print(f"{'fix verb alone':28s} {fix_alone:8.2f}")
    print(f"{'compare verb alone':28s} {compare_alone:8.2f}  passed={verb.passed}")
    port_compare = sum(s.seconds for s in result.stages if s.name == "compare onnxruntime")
    print(f"port compare / compare verb: {port_compare / compare_alone:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
