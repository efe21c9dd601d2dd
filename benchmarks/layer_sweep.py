"""check's verdict against reality for single torch layers, each exported after a Conv.

    python benchmarks/layer_sweep.py --target ncnn --opsets 13,18
    python benchmarks/layer_sweep.py --target openvino --names prelu,reflect_pad

Each layer (or tensor expression) of LAYERS runs after a 3x3 Conv on a [1, 3, 8, 8] input, as
it would inside a network (the Conv tells converters such as pnnx the batch axis), exported
with torch.onnx.export (TorchScript exporter) at each opset. Reality: the target converts and
runs the model and matches ONNX Runtime (rtol 1e-3, atol 1e-4). The zoo tests whole networks;
this tests the layer patterns exporters write, which the node suite does not have (the sweep
found ncnn's dropped reduction axes, its refused Pad modes and PRelu, and ArgMax, TopK and
CumSum, which its op table names and pnnx does not convert). Needs torch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def layers() -> dict[str, Callable[[], Any]]:
    """Name -> a module taking [1, 8, 8, 8]."""
    import torch
    from torch import nn

    f = nn.functional

    def fn(body: Callable[[Any], Any]) -> Callable[[], Any]:
        class Fn(nn.Module):
            def forward(self, x: Any) -> Any:
                return body(x)

        return Fn

    return {
        "conv_transpose_2x": lambda: nn.ConvTranspose2d(8, 8, 2, 2),
        "conv_transpose_output_padding": lambda: nn.ConvTranspose2d(8, 4, 3, 2, 1, 1),
        "depthwise_conv": lambda: nn.Conv2d(8, 8, 3, 1, 1, groups=8),
        "dilated_conv": lambda: nn.Conv2d(8, 8, 3, 1, 2, dilation=2),
        "maxpool_ceil": lambda: nn.MaxPool2d(3, 2, ceil_mode=True),
        "avgpool": lambda: nn.AvgPool2d(2),
        "avgpool_exclude_pad": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        "adaptive_avg_1": lambda: nn.AdaptiveAvgPool2d(1),
        "adaptive_avg_2": lambda: nn.AdaptiveAvgPool2d(2),
        "adaptive_max_1": lambda: nn.AdaptiveMaxPool2d(1),
        "pixel_shuffle": lambda: nn.PixelShuffle(2),
        "pixel_unshuffle": lambda: nn.PixelUnshuffle(2),
        "upsample_bilinear_size": lambda: nn.Upsample(size=(12, 12), mode="bilinear"),
        "upsample_nearest_size": lambda: nn.Upsample(size=(16, 16), mode="nearest"),
        "upsample_nearest_3x": lambda: nn.Upsample(scale_factor=3, mode="nearest"),
        "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "mish": nn.Mish,
        "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU("tanh"), "silu": nn.SiLU, "elu": nn.ELU,
        "leaky_relu": lambda: nn.LeakyReLU(0.1), "prelu": lambda: nn.PReLU(8),
        "relu6": nn.ReLU6, "softplus": nn.Softplus,
        "group_norm": lambda: nn.GroupNorm(2, 8),
        "instance_norm": lambda: nn.InstanceNorm2d(8, affine=True),
        "layer_norm_chw": lambda: nn.LayerNorm([8, 8, 8]),
        "softmax_c": lambda: nn.Softmax(1), "log_softmax_c": lambda: nn.LogSoftmax(1),
        "dropout": lambda: nn.Dropout(0.5), "zero_pad": lambda: nn.ZeroPad2d((1, 2, 0, 1)),
        "reflect_pad": lambda: nn.ReflectionPad2d(1),
        "replicate_pad": lambda: nn.ReplicationPad2d(1),
        "mean_hw": fn(lambda x: x.mean((2, 3), keepdim=True)),
        "sum_c": fn(lambda x: x.sum(1, keepdim=True)),
        "max_c": fn(lambda x: x.max(1, keepdim=True)[0]),
        "l2_normalize": fn(lambda x: f.normalize(x, dim=1)),
        "chunk_swap": fn(lambda x: torch.cat(x.chunk(2, 1)[::-1], 1)),
        "split_3_5": fn(lambda x: torch.cat(x.split([3, 5], 1)[::-1], 1)),
        "permute_nhwc": fn(lambda x: x.permute(0, 2, 3, 1)),
        "flatten": fn(lambda x: x.flatten(1)), "view": fn(lambda x: x.view(1, 2, 4, 64)),
        "transpose_hw": fn(lambda x: x.transpose(2, 3)),
        "slice_hw": fn(lambda x: x[:, :, 1:7, 2:6]), "slice_step": fn(lambda x: x[:, :, ::2, ::2]),
        "index_c": fn(lambda x: x[:, 3:4]), "clamp": fn(lambda x: x.clamp(-0.5, 0.5)),
        "square": fn(lambda x: x**2), "sqrt_abs": fn(lambda x: x.abs().sqrt()),
        "exp": fn(lambda x: x.exp()), "swish": fn(lambda x: x * x.sigmoid()),
        "div_const": fn(lambda x: x / 3.0), "one_minus": fn(lambda x: 1 - x),
        "minimum": fn(lambda x: torch.minimum(x, x * 0.5)),
        "where": fn(lambda x: torch.where(x > 0, x, x * 0.1)),
        "argmax_c": fn(lambda x: x.argmax(1).float()),
        "topk": fn(lambda x: x.flatten(1).topk(5)[0]), "cumsum": fn(lambda x: x.cumsum(1)),
        "add_mean_c": fn(lambda x: x + x.mean(1, keepdim=True)),
        "matmul": fn(lambda x: torch.matmul(x.flatten(2), x.flatten(2).transpose(1, 2))),
        "interp_2x_align_corners": fn(
            lambda x: f.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        ),
        "interp_half_bilinear": fn(lambda x: f.interpolate(x, scale_factor=0.5, mode="bilinear")),
        "interp_half_nearest": fn(lambda x: f.interpolate(x, scale_factor=0.5, mode="nearest")),
        "std_c": fn(lambda x: x.std(1, keepdim=True)), "erf": fn(torch.erf),
        "tanh": fn(torch.tanh), "repeat": fn(lambda x: x.repeat(1, 2, 1, 1)),
        "roll": fn(lambda x: torch.roll(x, 1, 2)), "flip": fn(lambda x: torch.flip(x, [3])),
    }  # fmt: skip


def sweep(target: str, opsets: list[int], names: list[str]) -> int:
    """Print one line per (layer, opset) and the agreement; return the disagreements."""
    import torch

    from nnport.check import check
    from nnport.model.io import load
    from runtimes import matches_onnxruntime

    table = layers()
    picked = [n for n in table if not names or n in names]
    agree = total = 0
    with tempfile.TemporaryDirectory(prefix="nnport-sweep-") as tmp:
        for opset in opsets:
            for name in picked:
                torch.manual_seed(0)
                net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 1, 1), table[name]()).eval()
                path = Path(tmp) / f"{name}_{opset}.onnx"
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        torch.onnx.export(net, (torch.randn(1, 3, 8, 8),), str(path),
                                          opset_version=opset, dynamo=False)  # fmt: skip
                except Exception as exc:  # an exporter limit, not a verdict
                    print(f"  {name:32s} op{opset:<3d} export failed: {str(exc)[:60]}")
                    continue
                report = check(load(path), target)
                real = matches_onnxruntime(target, path)
                total += 1
                agree += report.deployable == real
                flag = "" if report.deployable == real else "FP" if report.deployable else "FN"
                rules = ",".join(sorted({v.rule for v in report.violations}))
                print(f"  {name:32s} op{opset:<3d} check={report.deployable!s:5s} "
                      f"real={real!s:5s} {flag:2s} {rules}", flush=True)  # fmt: skip
    print(f"{target}: check agrees with reality on {agree} of {total} layer exports "
          f"({100.0 * agree / max(total, 1):.1f}%)")  # fmt: skip
    return total - agree


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="ncnn", choices=["ncnn", "openvino", "onnxruntime"])
    parser.add_argument("--opsets", default="13,18")
    parser.add_argument("--names", default="", help="comma-separated layer names (default all)")
    args = parser.parse_args(argv)
    opsets = [int(o) for o in args.opsets.split(",") if o]
    sweep(args.target, opsets, [n for n in args.names.split(",") if n])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
