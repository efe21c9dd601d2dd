"""Error metrics between a reference and a candidate tensor, accumulated over several samples."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Denominator floor for relative errors, so exact zeros in the reference do not divide by zero.
REL_EPS = 1e-12


@dataclass(frozen=True)
class Tolerance:
    """Element-wise tolerance: ``|candidate - reference| <= atol + rtol * |reference|``.

    With ``min_sqnr_db`` the verdict is the tensor's SQNR (signal to quantization noise,
    ``10 log10(sum ref^2 / sum (cand - ref)^2)``) at least that, and no NaN or inf that the
    reference lacks; the element-wise fraction is still reported. Reduced precisions use it:
    an fp16 model differs from fp32 in every element, and what breaks is the signal.
    """

    rtol: float
    atol: float
    min_sqnr_db: float | None = None


@dataclass(frozen=True)
class TensorMetrics:
    """How one tensor (a model output or an intermediate) differs, over all samples compared.

    ``top1_agreement`` / ``top5_agreement`` are set for classifier-like outputs (rank 2, at
    least 2 classes): the fraction of rows whose top-1 class agrees, and whose reference top-1
    class is within the candidate's top-5.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    max_abs_err: float
    max_rel_err: float
    mean_abs_err: float
    cosine: float
    snr_db: float
    out_of_tolerance: float
    nan_reference: int
    nan_candidate: int
    inf_reference: int
    inf_candidate: int
    passed: bool
    samples: int = 1
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    shape_mismatch: str | None = None
    reference_max_abs: float = 0.0
    node: str | None = None
    op: str | None = None

    def summary(self) -> str:
        """One line: max abs / rel error and out-of-tolerance fraction."""
        if self.shape_mismatch:
            return f"{self.name}: shape mismatch ({self.shape_mismatch})"
        text = (
            f"{self.name}: max abs {self.max_abs_err:.3g}, max rel {self.max_rel_err:.3g}, "
            f"{percent(self.out_of_tolerance)} out of tolerance"
        )
        if self.inf_candidate != self.inf_reference or self.nan_candidate != self.nan_reference:
            text += (
                f", inf {self.inf_reference} -> {self.inf_candidate}, "
                f"NaN {self.nan_reference} -> {self.nan_candidate}"
            )
        return text


def percent(fraction: float) -> str:
    """A fraction as a percentage that never shows a nonzero one as 0.00% (0.0005%)."""
    value = 100 * fraction
    return f"{value:.2f}%" if value == 0 or value >= 0.01 else f"{value:.1g}%"


@dataclass
class _Accumulator:
    """Running sums for one tensor over samples (avoids keeping every sample in memory)."""

    name: str
    tol: Tolerance
    shape: tuple[int, ...] = ()
    dtype: str = ""
    count: int = 0
    samples: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    sum_abs: float = 0.0
    dot: float = 0.0
    norm_ref: float = 0.0
    norm_cand: float = 0.0
    err_energy: float = 0.0
    bad: int = 0
    nans: list[int] = field(default_factory=lambda: [0, 0])
    infs: list[int] = field(default_factory=lambda: [0, 0])
    rows: int = 0
    top1: int = 0
    top5: int = 0
    mismatch: str | None = None
    ref_max: float = 0.0
    nonfinite: int = 0  # elements where one side is NaN/inf and the other is not the same
    finite: int = 0

    def add(self, reference: np.ndarray, candidate: np.ndarray) -> None:
        self.samples += 1
        self.shape = tuple(int(d) for d in reference.shape)
        self.dtype = str(reference.dtype)
        if reference.shape != candidate.shape:
            if reference.size == candidate.size:
                candidate = candidate.reshape(reference.shape)
            else:
                self.mismatch = (
                    f"reference {list(reference.shape)}, candidate {list(candidate.shape)}"
                )
                return
        if reference.dtype == np.bool_ or not np.issubdtype(reference.dtype, np.number):
            ref = reference.astype(np.float64)
            cand = candidate.astype(np.float64)
        else:
            ref = reference.astype(np.float64, copy=False)
            cand = candidate.astype(np.float64, copy=False)
        ref_nan, cand_nan = np.isnan(ref), np.isnan(cand)
        ref_inf, cand_inf = np.isinf(ref), np.isinf(cand)
        self.nans[0] += int(ref_nan.sum())
        self.nans[1] += int(cand_nan.sum())
        self.infs[0] += int(ref_inf.sum())
        self.infs[1] += int(cand_inf.sum())
        finite = np.isfinite(ref) & np.isfinite(cand)
        same_special = (ref_nan & cand_nan) | (ref_inf & cand_inf & (ref == cand))
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: masked out below
            diff = np.where(finite, np.abs(cand - ref), 0.0)
        allowed = self.tol.atol + self.tol.rtol * np.abs(np.where(finite, ref, 0.0))
        special = int((~finite & ~same_special).sum())
        self.nonfinite += special
        self.finite += int(finite.sum())
        self.bad += int(((diff > allowed) & finite).sum()) + special
        self.count += ref.size
        if ref.size:
            self.max_abs = max(self.max_abs, float(diff.max()))
            rel = diff / np.maximum(np.abs(np.where(finite, ref, 0.0)), REL_EPS)
            self.max_rel = max(self.max_rel, float(np.where(finite, rel, 0.0).max()))
            self.ref_max = max(self.ref_max, float(np.abs(np.where(finite, ref, 0.0)).max()))
        self.sum_abs += float(diff.sum())
        r, c = np.where(finite, ref, 0.0), np.where(finite, cand, 0.0)
        self.dot += float(np.vdot(r, c))
        self.norm_ref += float(np.vdot(r, r))
        self.norm_cand += float(np.vdot(c, c))
        self.err_energy += float(np.vdot(diff, diff))
        if ref.ndim == 2 and ref.shape[1] >= 2 and np.issubdtype(reference.dtype, np.floating):
            ref_top1 = np.argmax(reference, axis=1)
            cand_order = np.argsort(-candidate, axis=1)
            self.rows += ref.shape[0]
            self.top1 += int((cand_order[:, 0] == ref_top1).sum())
            top5 = cand_order[:, : min(5, ref.shape[1])]
            self.top5 += int((top5 == ref_top1[:, None]).any(axis=1).sum())

    def result(self, node: str | None = None, op: str | None = None) -> TensorMetrics:
        norms = math.sqrt(self.norm_ref) * math.sqrt(self.norm_cand)
        cosine = (
            self.dot / norms if norms > 0 else (1.0 if self.norm_ref == self.norm_cand else 0.0)
        )
        if self.nonfinite:  # an overflow or a NaN the reference lacks: no signal survives it
            snr = -math.inf
            cosine = cosine if self.finite else 0.0
        elif self.err_energy == 0:
            snr = math.inf
        elif self.norm_ref == 0:
            snr = -math.inf
        else:
            snr = 10 * math.log10(self.norm_ref / self.err_energy)
        fraction = self.bad / self.count if self.count else 0.0
        nan_ok = self.nans[0] == self.nans[1] and self.infs[0] == self.infs[1]
        floor = self.tol.min_sqnr_db
        close = self.bad == 0 if floor is None else snr >= floor
        return TensorMetrics(
            name=self.name,
            shape=self.shape,
            dtype=self.dtype,
            max_abs_err=self.max_abs,
            max_rel_err=self.max_rel,
            mean_abs_err=self.sum_abs / self.count if self.count else 0.0,
            cosine=cosine,
            snr_db=snr,
            out_of_tolerance=fraction,
            nan_reference=self.nans[0],
            nan_candidate=self.nans[1],
            inf_reference=self.infs[0],
            inf_candidate=self.infs[1],
            passed=self.mismatch is None and close and nan_ok,
            samples=self.samples,
            top1_agreement=self.top1 / self.rows if self.rows else None,
            top5_agreement=self.top5 / self.rows if self.rows else None,
            shape_mismatch=self.mismatch,
            reference_max_abs=self.ref_max,
            node=node,
            op=op,
        )


class MetricsAccumulator:
    """Accumulate metrics per tensor name over samples: ``add(name, ref, cand)`` then ``result``."""

    def __init__(self, tolerance: Tolerance) -> None:
        self.tolerance = tolerance
        self._tensors: dict[str, _Accumulator] = {}

    def add(self, name: str, reference: np.ndarray, candidate: np.ndarray) -> None:
        """Fold one sample of tensor ``name`` into its running metrics."""
        acc = self._tensors.setdefault(name, _Accumulator(name, self.tolerance))
        acc.add(np.asarray(reference), np.asarray(candidate))

    def result(self, name: str, *, node: str | None = None, op: str | None = None) -> TensorMetrics:
        """The metrics of tensor ``name`` over every sample added so far."""
        return self._tensors[name].result(node, op)


def tensor_metrics(
    name: str, reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance
) -> TensorMetrics:
    """Metrics for one pair of arrays."""
    acc = MetricsAccumulator(tolerance)
    acc.add(name, reference, candidate)
    return acc.result(name)
