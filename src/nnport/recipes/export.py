"""Export a torch module to ONNX (static shape buckets or a dynamic batch), verified against torch."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.errors import ModelSaveError, ToleranceExceededError, UsageError
from nnport.model.atomic import temp_dir
from nnport.model.io import save
from nnport.recipes.checkpoint import CheckpointInfo
from nnport.recipes.torchutil import require_torch

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAME = "output"
META_PREFIX = "nnport."


@dataclass(frozen=True)
class ExportOptions:
    """How to export: static shapes (one file each) or one dynamic-batch file, and the check."""

    shapes: tuple[tuple[int, ...], ...] = ()
    dynamic_batch: bool = False
    opset: int = 17
    rtol: float = 1e-4
    atol: float = 1e-5
    seed: int = 0
    verify_samples: int = 2


@dataclass(frozen=True)
class ExportedModel:
    """One written ONNX file, the shape it was exported for and how well it matched torch."""

    path: str
    input_shape: tuple[int | str, ...]
    dynamic_batch: bool
    max_abs_diff: float
    max_rel_diff: float
    verified_batches: tuple[int, ...]


@dataclass(frozen=True)
class ExportResult:
    """Every model an export wrote, with the source it came from and the opset used."""

    source: str
    opset: int
    rtol: float
    atol: float
    models: tuple[ExportedModel, ...]
    framework: str = "torch"  # what the files were checked against: torch, keras, mindspore
    manifest: str = ""  # buckets.json beside several shape buckets ('' for one model)


def metadata_for(info: CheckpointInfo | None) -> dict[str, str]:
    """ONNX metadata_props recording what evaluate needs: normalization, classes, input shape."""
    if info is None:
        return {}
    meta = {
        f"{META_PREFIX}architecture": info.architecture,
        f"{META_PREFIX}input_shape": json.dumps(list(info.input_shape)),
        f"{META_PREFIX}layout": "NCHW",
        f"{META_PREFIX}scale": json.dumps(1 / 255),
    }
    if info.mean:
        meta[f"{META_PREFIX}mean"] = json.dumps(list(info.mean))
    if info.std:
        meta[f"{META_PREFIX}std"] = json.dumps(list(info.std))
    if info.classes:
        meta[f"{META_PREFIX}classes"] = json.dumps(list(info.classes))
    return meta


def output_paths(out: Path, options: ExportOptions) -> list[tuple[Path, tuple[int, ...]]]:
    """Where each export goes: OUT itself for one model, OUT_1x1x28x28.onnx for several shapes."""
    if len(options.shapes) <= 1:
        return [(out, options.shapes[0])] if options.shapes else []
    paths = []
    for shape in options.shapes:
        tag = "x".join(str(d) for d in shape)
        paths.append((out.with_name(f"{out.stem}_{tag}{out.suffix or '.onnx'}"), shape))
    return paths


def _torch_export(model: Any, shape: tuple[int, ...], path: Path, options: ExportOptions) -> None:
    torch = require_torch()
    example = torch.zeros(shape, dtype=torch.float32)
    tail = getattr(model, "onnx_tail", None)  # a graph appended after tracing (e.g. NMS)
    model = getattr(model, "traced", model)  # the part torch traces, when it is not all
    names = output_names(model)
    dynamic_axes = (
        {INPUT_NAME: {0: "batch"}, **{n: {0: "batch"} for n in names}}
        if options.dynamic_batch
        else None
    )
    try:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=names,
                opset_version=options.opset,
                dynamic_axes=dynamic_axes,
                dynamo=False,
            )
    except Exception as exc:
        first = " ".join(str(exc).split())[:300]
        raise ModelSaveError(f"torch.onnx.export failed for shape {shape}: {first}") from exc
    if tail is not None:
        tail(path)


def _verify(
    model: Any, onnx_model: ir.Model, shape: tuple[int, ...], options: ExportOptions
) -> tuple[float, float, tuple[int, ...]]:
    """Run torch and ONNX Runtime on the same seeded inputs; raise if they differ."""
    torch = require_torch()
    from nnport.backends import make_runner

    batches = (shape[0], shape[0] + 2) if options.dynamic_batch else (shape[0],)
    rng = np.random.default_rng(options.seed)
    max_abs = max_rel = 0.0
    with make_runner("onnxruntime", onnx_model) as runner:
        for batch in batches:
            for _ in range(options.verify_samples):
                x = rng.standard_normal((batch, *shape[1:])).astype(np.float32)
                with torch.no_grad():
                    result = model(torch.from_numpy(x))
                results = result if isinstance(result, (tuple, list)) else (result,)
                outputs = runner.infer({INPUT_NAME: x})
                for name, tensor in zip(output_names(model), results, strict=True):
                    max_abs, max_rel = _check_output(
                        name, outputs[name], tensor.numpy(), shape, options, max_abs, max_rel
                    )
    return max_abs, max_rel, batches


def output_names(model: Any) -> list[str]:
    """The module's ONNX output names: its ``output_names`` attribute, else one ``output``."""
    return list(getattr(model, "output_names", [OUTPUT_NAME]))


def _check_output(
    name: str,
    got: np.ndarray,
    expected: np.ndarray,
    shape: tuple[int, ...],
    options: ExportOptions,
    max_abs: float,
    max_rel: float,
) -> tuple[float, float]:
    """Fold one output's difference from torch into the running maxima; raise beyond tolerance."""
    if got.shape != expected.shape:
        raise ToleranceExceededError(
            f"exported model gives {name} of shape {got.shape}, torch gives {expected.shape}"
        )
    diff = np.abs(got.astype(np.float64) - expected)
    max_abs = max(max_abs, float(diff.max(initial=0.0)))
    rel = diff / np.maximum(np.abs(expected), 1e-12)
    max_rel = max(max_rel, float(rel.max(initial=0.0)))
    if not np.allclose(got, expected, rtol=options.rtol, atol=options.atol):
        raise ToleranceExceededError(
            f"ONNX export of shape {shape} differs from torch in {name}: max abs diff "
            f"{max_abs:.3g} beyond rtol={options.rtol} atol={options.atol}",
            hint="nothing was written",
        )
    return max_abs, max_rel


def export(
    model: Any,
    out: str | Path,
    options: ExportOptions,
    *,
    info: CheckpointInfo | None = None,
    source: str = "",
) -> ExportResult:
    """Export ``model`` per ``options``; verify each file against torch, then write it atomically."""
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise UsageError(f"output {out} should end in .onnx")
    if not out.parent.exists():
        raise ModelSaveError(f"output folder {out.parent} does not exist")
    shapes = options.shapes
    if not shapes:
        if info is None:
            raise UsageError("give --shape: the model records no input shape")
        shapes = (info.input_shape,)
    if options.dynamic_batch and len(shapes) > 1:
        raise UsageError("--dynamic-batch makes one model; give at most one --shape with it")
    options = ExportOptions(**{**vars(options), "shapes": tuple(shapes)})
    model.eval()
    metadata = {**metadata_for(info), **getattr(model, "onnx_metadata", {})}
    prepared: list[tuple[Path, ir.Model, ExportedModel]] = []
    tmp_dir = temp_dir(out.parent, "export")  # named for this process: swept once it is gone
    try:
        for path, shape in output_paths(out, options):
            tmp = tmp_dir / path.name
            _torch_export(model, shape, tmp, options)
            onnx_model = ir.load(tmp)
            onnx_model.metadata_props.update(metadata)
            max_abs, max_rel, batches = _verify(model, onnx_model, shape, options)
            dims: tuple[int | str, ...] = (
                ("batch", *shape[1:]) if options.dynamic_batch else tuple(shape)
            )
            prepared.append(
                (
                    path,
                    onnx_model,
                    ExportedModel(
                        str(path), dims, options.dynamic_batch, max_abs, max_rel, batches
                    ),
                )
            )
        # Every model verified: only now write them (each atomically).
        for path, onnx_model, _ in prepared:
            save(onnx_model, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return ExportResult(
        source=source,
        opset=options.opset,
        rtol=options.rtol,
        atol=options.atol,
        models=tuple(entry for _, _, entry in prepared),
    )


def parse_shapes(values: Sequence[str]) -> tuple[tuple[int, ...], ...]:
    """Parse ``--shape 1x1x28x28`` values (an ``input:`` prefix is allowed and ignored)."""
    from nnport.model.specs import parse_input_shape

    return tuple(parse_input_shape(v).shape for v in values)
