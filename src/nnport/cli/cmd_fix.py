"""``nnport fix``: rewrite a model until the target accepts it, verifying every rewrite."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from nnport.cli.common import (
    BATCH_GEARS_OPT,
    IMAGE_GEARS_OPT,
    INPUT_SHAPE_OPT,
    JSON_OPT,
    MODEL_ARG,
    TARGET_OPT,
    console,
    emit_json,
    input_specs,
    output_file,
    parse_gears,
    refuse_unknown_opset,
)
from nnport.errors import UsageError
from nnport.results import to_jsonable

OUTPUT_OPT = typer.Option(
    ..., "--output", "-o", help="Where to write the fixed model (never the input).",
    show_default=False,
)  # fmt: skip
INPUTS_OPT = typer.Option(
    None,
    "--inputs",
    help="An .npz of named input arrays to verify with (default: seeded range-aware inputs).",
    show_default=False,
)
RTOL_OPT = typer.Option(1e-4, "--rtol", help="Relative tolerance for float outputs.")
ATOL_OPT = typer.Option(1e-5, "--atol", help="Absolute tolerance for float outputs.")
SEED_OPT = typer.Option(0, "--seed", help="Seed of the generated verification inputs.")
SPLIT_OPT = typer.Option(
    True,
    "--split-postprocess/--no-split-postprocess",
    help="When post-processing with data-dependent shapes (NonMaxSuppression, NonZero, TopK "
    "with a computed K) blocks the target, cut it off: OUT holds the device part and "
    "OUT.post.onnx the post-processing to run on the host (device then host is verified "
    "against the original); likewise input pre-processing before the first Conv/MatMul "
    "that the target lacks goes to OUT.pre.onnx.",
)

PRECISION_OPT = typer.Option(
    None,
    "--precision",
    help="The number format to verify OUT in: fp32, fp16, bf16 or int8 (default: the target's "
    "device format, e.g. fp16 for ascend310). A model that breaks in it gets the smallest "
    "verified set of nodes kept in fp32 (for Ascend written to OUT.keep_dtype.cfg, ATC's "
    "--keep_dtype file).",
    show_default=False,
)

FOLD_QDQ_OPT = typer.Option(
    False,
    "--fold-qdq",
    help="Fold a quantized (QDQ) model's QuantizeLinear/DequantizeLinear back to float before "
    "fixing, for converters that quantize themselves (ATC/AMCT, NNIE mapper, ncnn2int8): the "
    "difference to the quantized model is measured and stated, and the scales are written to "
    "OUT.qdq_scales.json (for ncnn also OUT.ncnn.table, ncnn2int8's table format).",
)


def host_path(output: Path, suffix: str | None = None) -> Path:
    """Where the host part of a split model goes: OUT's stem + ``.post.onnx`` (post-processing,
    the default) or ``.pre.onnx`` (input pre-processing)."""
    from nnport.passes.split_postprocess import HOST_SUFFIX

    return output.with_name(output.stem + (HOST_SUFFIX if suffix is None else suffix))


def fix_cmd(
    model: Path = MODEL_ARG,
    target: str = TARGET_OPT,
    output: Path = OUTPUT_OPT,
    input_shape: list[str] | None = INPUT_SHAPE_OPT,
    inputs: Path | None = INPUTS_OPT,
    rtol: float = RTOL_OPT,
    atol: float = ATOL_OPT,
    seed: int = SEED_OPT,
    batch_gears: str | None = BATCH_GEARS_OPT,
    image_gears: str | None = IMAGE_GEARS_OPT,
    split_postprocess: bool = SPLIT_OPT,
    precision: str | None = PRECISION_OPT,
    fold_qdq: bool = FOLD_QDQ_OPT,
    json_out: bool = JSON_OPT,
) -> None:
    """Rewrite MODEL until TARGET accepts it; every pass is verified on the same inputs.

    Plans from check's violations, applies the passes that resolve them, re-checks, repeats.

    A pass whose outputs drift beyond --rtol/--atol (integers: exactly) is rolled back.

    OUT is then verified in the target's number format (--precision; fp16 emulated for
    Ascend): a model that breaks in it gets the nodes to keep in fp32, verified, written to
    OUT.keep_dtype.cfg for ATC.

    Exit 0: OUT deployable and verified; 1: violations remain (OUT still written) or the model
    breaks in the target's format beyond repair; 2: bad input.

    For Ascend targets the matching atc command line is printed.

    Post-processing that no static-shape target can run (NMS, NonZero) is cut off to
    OUT.post.onnx for the host, and input pre-processing the target lacks (normalize, resize,
    pad before the first Conv) to OUT.pre.onnx, unless --no-split-postprocess.
    """
    from nnport.model import load
    from nnport.model.io import check_output_path, save
    from nnport.model.specs import resolve_input_shapes
    from nnport.passes import FixOptions, atc_command, fix
    from nnport.passes.atc import is_atc_target, precision_mode
    from nnport.passes.fold_qdq import scales_path, write_scales
    from nnport.passes.keep_fp32 import keep_file_path, write_keep_file
    from nnport.passes.split_preprocess import PRE_SUFFIX
    from nnport.precision.formats import get_format
    from nnport.report.fix import render_fix
    from nnport.targets import load_target
    from nnport.verify.inputs import load_npz

    if rtol < 0 or atol < 0:
        raise UsageError("--rtol and --atol must be >= 0")
    output = output_file(output)  # a folder, or a folder that takes no files: before any work
    check_output_path(output, [model])
    check_output_path(host_path(output), [model])
    check_output_path(host_path(output, PRE_SUFFIX), [model])
    check_output_path(keep_file_path(output), [model])
    check_output_path(scales_path(output), [model])
    if precision is not None:
        precision = get_format(precision).name  # an unknown format fails before any work
    profile = load_target(target)
    loaded = load(model)
    refuse_unknown_opset(loaded, model)
    shapes = resolve_input_shapes(loaded, input_specs(input_shape))
    feeds = load_npz(inputs, loaded) if inputs is not None else None
    batch, images = parse_gears(batch_gears, image_gears)
    options = FixOptions(
        rtol=rtol, atol=atol, seed=seed, batch_gears=batch, image_gears=images,
        split_postprocess=split_postprocess, precision=precision, fold_qdq=fold_qdq,
    )  # fmt: skip
    result = fix(loaded, profile, input_shapes=shapes, inputs=feeds, options=options)
    if result.split is not None:
        post = pre = ""
        if result.host_model is not None:
            post = str(host_path(output))
            save(result.host_model, post)
        if result.pre_model is not None:
            pre = str(host_path(output, PRE_SUFFIX))
            save(result.pre_model, pre)
        split = dataclasses.replace(result.split, host_output=post, pre_output=pre)
        result = dataclasses.replace(result, split=split)
    save(result.model, output)
    verdict = result.precision
    if verdict is not None:
        verdict = write_keep_file(verdict, output, profile)
    extra: dict[str, object] = {"output": str(output), "precision": verdict}
    if result.qdq_fold is not None:
        extra["qdq_fold"] = write_scales(result.qdq_fold, output, profile.name)
    from nnport.model.device_preprocess import write_device_configs
    from nnport.model.specs import graph_inputs

    device_pre = write_device_configs(  # the preprocessing spec as AIPP / NNIE config, if any
        loaded.metadata_props, tuple(graph_inputs(result.model)[0].shape or ()), profile.name,
        output.with_suffix(""),
    )  # fmt: skip
    if is_atc_target(profile.name):
        extra["atc_command"] = atc_command(
            result.model, profile.name, output, shapes=result.input_shapes,
            batch_gears=result.batch_gears, image_gears=result.image_gears,
            precision_mode=precision_mode(verdict.converter_flags) if verdict else "",
            keep_dtype=verdict.keep_file if verdict else "",
        ) + "".join(f" --insert_op_conf={p}" for p in device_pre if p.endswith(".aipp.cfg"))  # fmt: skip
    result = dataclasses.replace(result, **extra)  # type: ignore[arg-type]
    if json_out:
        data = to_jsonable(result.without_model())
        data.pop("model", None)  # the fixed model is the file at --output
        emit_json(data)
    else:
        console.print(render_fix(result))
        if result.atc_command:  # unwrapped, so it can be copied as one line
            console.print(result.atc_command, soft_wrap=True, markup=False, highlight=False)
    failed = result.precision is not None and result.precision.broke and not result.precision.passed
    raise typer.Exit(0 if result.deployable and result.verified and not failed else 1)


def register(app: typer.Typer) -> None:
    """Add the ``fix`` verb."""
    app.command("fix")(fix_cmd)
