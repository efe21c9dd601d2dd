"""Cut a model the target cannot take whole into host pre-processing, device part and host post-processing; fix and prove."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx_ir as ir

from nnport.passes.base import Decline
from nnport.passes.split_postprocess import (
    SplitReport,
    adapt_host_inputs,
    host_mac_share,
    host_region,
    split_model,
)
from nnport.passes.split_preprocess import PreSplit, pre_region, split_pre
from nnport.passes.verify import Drift, drift, run_model

logger = logging.getLogger(__name__)


def _only(feed: Mapping[str, np.ndarray], model: ir.Model) -> dict[str, np.ndarray]:
    names = {v.name for v in model.graph.inputs}
    return {k: a for k, a in feed.items() if k in names}


def _run_parts(
    pre: ir.Model | None,
    device: ir.Model,
    post: ir.Model | None,
    feeds: Sequence[Mapping[str, np.ndarray]],
) -> tuple[str, list[dict[str, np.ndarray]]]:
    """Host pre-processing, device part, host post-processing, each on what the ones before
    it produced (and the graph inputs it reads)."""
    known = [dict(f) for f in feeds]
    if pre is not None:
        _, outs = run_model(pre, [_only(f, pre) for f in known])
        known = [{**f, **o} for f, o in zip(known, outs, strict=True)]
    engine, outs = run_model(device, [_only(f, device) for f in known])
    if post is None:
        return engine, outs
    known = [{**f, **o} for f, o in zip(known, outs, strict=True)]
    return run_model(post, [_only(f, post) for f in known])


def split_and_fix(
    base: Any,
    current: ir.Model,
    report: Any,
    profile: Any,
    feeds: Sequence[Mapping[str, np.ndarray]],
    reference: Sequence[Mapping[str, np.ndarray]],
    options: Any,
    fix: Callable[..., Any],
) -> Any:
    """When violations of ``current`` (the whole model after fixing) lie in its data-dependent
    post-processing or its input pre-processing, cut those off to host models, fix the device
    part for the target and prove that the parts in a row reproduce ``reference``; returns
    the FixResult for the split, or None (also when the device part would still not deploy).
    ``fix`` is the planner's own entry point, which fixes the device part."""
    blocked = {v.node for v in report.violations if v.node}
    seeds, region = host_region(current)
    if not any((n.name or "") in blocked for n in region):
        seeds, region = [], set()
    pre_blocked = any((n.name or "") in blocked for n in pre_region(current, exclude=region))
    if not seeds and not pre_blocked:
        return None
    device, post, split = current, None, None
    try:
        if seeds:
            parts = split_model(current, seeds, region)
            device, post, split = parts.device, parts.host, parts.report
        pre: PreSplit | None = None
        if pre_blocked:
            pre = split_pre(device, pre_region(device))
            device = pre.device
    except Decline as exc:
        logger.info("not split: %s", exc)
        return None
    if split is None:
        split = SplitReport("", (), (), (), sum(1 for _ in device.graph), 0, 0.0, 0.0, ())
    if pre is not None:
        split = dataclasses.replace(
            split,
            pre_nodes=pre.nodes,
            pre_cut=tuple(pre.cut),
            device_nodes=sum(1 for _ in device.graph),
        )
    _, device_feeds = run_model(pre.host, [_only(f, pre.host) for f in feeds]) if pre else ("", [])
    device_feeds = [
        _only({**f, **d}, device)
        for f, d in zip(feeds, device_feeds or [{} for _ in feeds], strict=True)
    ]
    inner = fix(
        device,
        profile,
        inputs=device_feeds,
        options=dataclasses.replace(
            options, split_postprocess=False, batch_gears=(), image_gears=()
        ),
    )
    if not inner.deployable:  # three files and violations left help no one: keep one model
        logger.info("not split: the device part still has %d violation(s)", len(inner.remaining))
        return None
    if post is not None:
        adapt_host_inputs(post, inner.model)
    try:
        engine, outs = _run_parts(pre.host if pre else None, inner.model, post, feeds)
        pipe = drift(reference, outs, rtol=options.rtol, atol=options.atol, engine=engine)
    except Exception as exc:  # a host part that does not run is a failed proof, not a crash
        text = " ".join(str(exc).split())[:200]
        pipe = Drift(float("inf"), False, f"the host parts do not run: {text}", "")
    names = ["device part"]
    if pre is not None:
        names.insert(0, "host pre-processing")
    if post is not None:
        names.append("host post-processing")
    chain = " then ".join(names)
    outcome = f"{chain} reproduce the original outputs" if pipe.ok else pipe.reason
    split = dataclasses.replace(
        split,
        host_mac_share=host_mac_share(current, region, feeds[0]) if seeds else 0.0,
        verified=pipe.ok,
        max_error=pipe.max_abs,
        verification=f"{len(feeds)} feed(s) on {pipe.engine or 'onnxruntime'}; {outcome}",
    )
    device_passes = tuple(
        dataclasses.replace(r, round=base.rounds + r.round, part="device") for r in inner.passes
    )
    return dataclasses.replace(
        base,
        deployable=inner.deployable,
        verified=inner.verified and pipe.ok,
        violations_after=inner.violations_after,
        rounds=base.rounds + inner.rounds,
        passes=base.passes + device_passes,
        remaining=inner.remaining,
        max_error=pipe.max_abs,
        opset_after=inner.opset_after,
        nodes_after=inner.nodes_after,
        verification=split.verification,
        split=split,
        model=inner.model,
        host_model=post,
        pre_model=pre.host if pre else None,
        device_source=device,
        precision=inner.precision,
    )
