"""The Ascend ATC command line that fits a fixed model (static shape, or batch/image gears)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import onnx_ir as ir

from nnport.model.specs import graph_inputs

SOC_VERSIONS = {"ascend310": "Ascend310", "ascend310p": "Ascend310P3", "ascend910": "Ascend910"}
DEFAULT_BATCH_GEARS = (1, 2, 4, 8)


def is_atc_target(name: str) -> bool:
    """Targets converted by Huawei's ATC."""
    return name.lower() in SOC_VERSIONS


def atc_command(
    model: ir.Model,
    target: str,
    model_path: str | Path,
    *,
    shapes: Mapping[str, Sequence[int]] | None = None,
    batch_gears: Sequence[int] = (),
    image_gears: Sequence[tuple[int, int]] = (),
    precision_mode: str = "",
    keep_dtype: str | Path = "",
) -> str:
    """``atc --model=... --framework=5 --input_shape=... --soc_version=...`` (+ gear options).

    A dim left dynamic only on axis 0 gives ``--dynamic_batch_size``; dynamic only on H and W of
    4-D inputs gives ``--dynamic_image_size`` (``"h1,w1;h2,w2"``, the image gears, else the
    shapes given). Syntax as in CANN's ATC parameter pages (--input_shape with -1 for the
    varying dims; the two gear options cannot be combined). ``precision_mode`` ('force_fp16',
    'must_keep_origin_dtype') and ``keep_dtype`` (the file of node names kept in their
    original precision, ignored by ATC under must_keep_origin_dtype) add those options.
    """
    shapes = dict(shapes or {})
    path = Path(model_path)
    parts: list[str] = []
    dynamic_axes: set[int] = set()
    for value in graph_inputs(model):
        name = value.name or ""
        dims = list(value.shape) if value.shape is not None else []
        text = []
        for axis, dim in enumerate(dims):
            if isinstance(dim, int):
                text.append(str(dim))
            else:
                dynamic_axes.add(axis)
                text.append("-1")
        parts.append(f"{name}:{','.join(text)}")
    args = [
        "atc",
        f"--model={path}",
        "--framework=5",
        f"--output={path.with_suffix('')}",
        f"--input_shape={';'.join(parts)}",
        f"--soc_version={SOC_VERSIONS.get(target.lower(), target)}",
    ]
    if dynamic_axes == {0}:
        sizes = batch_gears or DEFAULT_BATCH_GEARS
        args.append(f"--dynamic_batch_size={','.join(str(b) for b in sizes)}")
    elif dynamic_axes and dynamic_axes <= {2, 3}:
        images = [f"{h},{w}" for h, w in image_gears] or [
            f"{s[2]},{s[3]}" for s in (shapes.get(v.name or "") for v in graph_inputs(model)) if s
        ]
        args.append(f"--dynamic_image_size={';'.join(dict.fromkeys(images)) or '224,224'}")
    if precision_mode:
        args.append(f"--precision_mode={precision_mode}")
    if keep_dtype and precision_mode != "must_keep_origin_dtype":
        args.append(f"--keep_dtype={keep_dtype}")
    return shlex.join(args)


def precision_mode(flags: str) -> str:
    """The --precision_mode value in a profile's converter flag ('--precision_mode=force_fp16')."""
    prefix = "--precision_mode="
    return flags[len(prefix) :] if flags.startswith(prefix) else ""
