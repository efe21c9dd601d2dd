"""The keep-in-fp32 search's machinery: the error of a mixed run against fp32, and the search
that runs the model with a keep-set (counting runs, caching verdicts), bisects a window of nodes
and shrinks it (``keep_fp32`` drives it)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import onnx_ir as ir

# A model matches in a format when no output gains inf/NaN and every float output's SQNR
# against fp32 is at least the format's floor (nnport.precision.formats.DEFAULT_MIN_SQNR_DB,
# the floor ``compare --precision`` judges by); integer outputs may differ on at most 1%.
INTEGER_MISMATCH = 0.01

NOT_COMPUTING = frozenset({"Constant", "ConstantOfShape", "Identity"})


def output_error(
    reference: Sequence[Mapping[str, np.ndarray]], got: Sequence[Mapping[str, np.ndarray]]
) -> tuple[float, float]:
    """(the largest float output error relative to the fp32 output's largest |value|, the
    lowest output SQNR in dB); inf/NaN where the reference is finite, or integer outputs
    differing on more than INTEGER_MISMATCH of their elements, give (inf, -inf)."""
    worst, lowest = 0.0, math.inf
    signal: dict[str, float] = {}
    noise: dict[str, float] = {}
    for ref_feed, got_feed in zip(reference, got, strict=True):
        for name, ref in ref_feed.items():
            a = np.asarray(ref)
            b = np.asarray(got_feed[name])
            if a.shape != b.shape:
                return math.inf, -math.inf
            if a.size == 0:
                continue
            if not np.issubdtype(a.dtype, np.floating):
                if float(np.mean(a != b)) > INTEGER_MISMATCH:
                    return math.inf, -math.inf
                continue
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            finite = np.isfinite(a64)
            if np.any(finite & ~np.isfinite(b64)):
                return math.inf, -math.inf
            if not finite.any():
                continue
            diff = a64[finite] - b64[finite]
            scale = max(float(np.max(np.abs(a64[finite]))), 1e-12)
            worst = max(worst, float(np.max(np.abs(diff))) / scale)
            signal[name] = signal.get(name, 0.0) + float(a64[finite] @ a64[finite])
            noise[name] = noise.get(name, 0.0) + float(diff @ diff)
    for name, power in signal.items():
        if noise[name] > 0:
            lowest = min(lowest, 10 * math.log10(power / noise[name]) if power > 0 else -math.inf)
    return worst, lowest


def subgraphs(node: ir.Node) -> list[ir.Graph]:
    graphs: list[ir.Graph] = []
    for attr in node.attributes.values():
        if attr.type == ir.AttributeType.GRAPH:
            graphs.append(attr.as_graph())
        elif attr.type == ir.AttributeType.GRAPHS:
            graphs.extend(attr.as_graphs())
    return graphs


class KeepSearch:
    """Runs the model in ``fmt`` with a given keep-set, counting runs and caching verdicts."""

    def __init__(
        self,
        model: ir.Model,
        fmt: str,
        feeds: Sequence[Mapping[str, np.ndarray]],
        reference: Sequence[Mapping[str, np.ndarray]],
        min_sqnr_db: float,
    ) -> None:
        self.model = model
        self.fmt = fmt
        self.feeds = feeds
        self.reference = reference
        self.min_sqnr_db = min_sqnr_db
        self.runs = 0
        self.errors: dict[frozenset[str], tuple[float, float]] = {}
        # Constant/Identity nodes and the nodes reading them: a constant read only by kept
        # nodes stays fp32 with them, as an initializer does (ATC keeps a kept operator's
        # constant inputs in its precision); such nodes are never listed themselves.
        self.constants = {
            n.name or "": {user.name or "" for v in n.outputs for user, _ in v.uses()}
            for n in model.graph
            if n.op_type in NOT_COMPUTING
        }

        # A kept If/Loop/Scan keeps the nodes of its subgraphs.
        self.bodies = {
            n.name or "": {m.name or "" for g in subgraphs(n) for m in g.all_nodes()}
            for n in model.graph
            if subgraphs(n)
        }

    def _with_constants(self, keep: frozenset[str]) -> frozenset[str]:
        full = set(keep)
        for name in keep & self.bodies.keys():
            full |= self.bodies[name]
        for _ in range(3):  # Constant -> Identity -> kept node chains
            full |= {c for c, users in self.constants.items() if users and users <= full}
        return frozenset(full)

    def measure(self, keep: Collection[str]) -> tuple[float, float]:
        """(largest relative error, lowest SQNR dB) of the model with ``keep`` in fp32."""
        key = frozenset(keep)
        if key not in self.errors:
            from nnport.precision.emulate import EmulatedRunner

            self.runs += 1
            with EmulatedRunner(self.model, self.fmt, keep=self._with_constants(key)) as runner:
                got = [runner.infer(dict(f)) for f in self.feeds]
            names = [list(r) for r in self.reference]
            got = [{n: g[n] for n in ns} for g, ns in zip(got, names, strict=True)]
            self.errors[key] = output_error(self.reference, got)
        return self.errors[key]

    def error(self, keep: Collection[str]) -> float:
        return self.measure(keep)[0]

    def passes(self, keep: Collection[str]) -> bool:
        return self.measure(keep)[1] >= self.min_sqnr_db


def bisect_window(
    search: KeepSearch, region: Sequence[str], names: Sequence[str]
) -> tuple[str, ...]:
    """The window of ``names`` (graph order) that, kept with ``region``, makes the model match:
    the shortest prefix that does, then the latest start that still does."""
    lo, hi = 0, len(names)  # keeping names[:lo] fails, names[:hi] passes
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if search.passes([*region, *names[:mid]]):
            hi = mid
        else:
            lo = mid
    start, stop = 0, hi - 1  # keeping names[start:hi] passes, names[stop+1:hi] ... fails
    while stop - start > 0:
        mid = (start + stop + 1) // 2
        if search.passes([*region, *names[mid:hi]]):
            start = mid
        else:
            stop = mid - 1
    return tuple(names[start:hi])


def shrink_window(
    search: KeepSearch, region: Sequence[str], window: Sequence[str], budget: int
) -> tuple[str, ...]:
    """``window`` less the inner nodes the model matches without, tried in halving chunks
    (delta debugging) while runs are left in ``budget``; its two ends stay (the bisections
    showed each is needed)."""
    if len(window) <= 2:
        return tuple(window)
    first, inner, last = window[0], list(window[1:-1]), window[-1]
    size = max(len(inner) // 2, 1)
    while inner and search.runs < budget:
        start = 0
        while start < len(inner) and search.runs < budget:
            trial = inner[:start] + inner[start + size :]
            if search.passes([*region, first, *trial, last]):
                inner = trial
            else:
                start += size
        if size == 1:
            break
        size //= 2
    return (first, *inner, last)
