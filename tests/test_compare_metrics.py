"""Metrics: tolerance rule, NaN/Inf accounting, top-k agreement, SNR and cosine, over samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnport.results import dumps, loads
from nnport.verify.metrics import MetricsAccumulator, TensorMetrics, Tolerance, tensor_metrics

TOL = Tolerance(rtol=1e-3, atol=1e-4)


def test_identical_tensors_pass_with_infinite_snr() -> None:
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    m = tensor_metrics("y", x, x.copy(), TOL)
    assert m.passed and m.max_abs_err == 0 and m.out_of_tolerance == 0
    assert m.cosine == pytest.approx(1.0) and math.isinf(m.snr_db)
    assert loads(TensorMetrics, dumps(m)) == m  # inf survives the JSON round trip


def test_tolerance_is_atol_plus_rtol_times_reference() -> None:
    ref = np.array([0.0, 100.0, -100.0, 1.0], np.float32)
    ok = ref + np.array([9e-5, 0.09, -0.09, 0.0], np.float32)  # within 1e-4 + 1e-3*|ref|
    assert tensor_metrics("y", ref, ok, TOL).passed
    bad = ref + np.array([0.0, 0.2, 0.0, 0.0], np.float32)
    m = tensor_metrics("y", ref, bad, TOL)
    assert not m.passed and m.out_of_tolerance == pytest.approx(0.25)
    assert m.max_abs_err == pytest.approx(0.2, rel=1e-3)
    assert m.max_rel_err == pytest.approx(0.002, rel=1e-2)


def test_nan_and_inf_are_counted_and_must_match() -> None:
    ref = np.array([1.0, np.nan, np.inf, 2.0])
    same = ref.copy()
    m = tensor_metrics("y", ref, same, TOL)
    assert m.passed and (m.nan_reference, m.nan_candidate, m.inf_reference) == (1, 1, 1)
    cand = np.array([1.0, 3.0, np.inf, np.nan])
    m = tensor_metrics("y", ref, cand, TOL)
    assert not m.passed and m.nan_candidate == 1 and m.nan_reference == 1
    assert m.out_of_tolerance == pytest.approx(0.5)  # the NaN moved: two positions disagree


def test_topk_agreement_for_classifier_outputs() -> None:
    ref = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    cand = ref.copy()
    cand[0, 5] = 7.0  # row 0: top-1 changes, but the reference top-1 (6) stays in the top-5
    m = tensor_metrics("logits", ref, cand, TOL)
    assert m.top1_agreement == pytest.approx(0.5) and m.top5_agreement == pytest.approx(1.0)
    assert tensor_metrics("feat", ref[:, :, None], cand[:, :, None], TOL).top1_agreement is None


def test_shape_mismatch_fails_and_same_size_is_reshaped() -> None:
    ref = np.zeros((1, 10), np.float32)
    assert tensor_metrics("y", ref, np.zeros(10, np.float32), TOL).passed
    m = tensor_metrics("y", ref, np.zeros(11, np.float32), TOL)
    assert not m.passed and m.shape_mismatch == "reference [1, 10], candidate [11]"


def test_accumulates_over_samples_like_one_concatenated_tensor() -> None:
    rng = np.random.default_rng(1)
    refs = [rng.standard_normal((3, 5)) for _ in range(3)]
    cands = [r + rng.normal(0, 1e-2, r.shape) for r in refs]
    acc = MetricsAccumulator(TOL)
    for r, c in zip(refs, cands, strict=True):
        acc.add("y", r, c)
    got = acc.result("y", node="n", op="Conv")
    whole = tensor_metrics("y", np.concatenate(refs), np.concatenate(cands), TOL)
    assert got.samples == 3 and got.node == "n" and got.op == "Conv"
    for field in ("max_abs_err", "mean_abs_err", "cosine", "snr_db", "out_of_tolerance"):
        assert getattr(got, field) == pytest.approx(getattr(whole, field))
    expected_snr = 10 * math.log10(
        sum(float((r**2).sum()) for r in refs)
        / sum(float(((c - r) ** 2).sum()) for r, c in zip(refs, cands, strict=True))
    )
    assert got.snr_db == pytest.approx(expected_snr)


def test_one_element_out_of_a_million_does_not_read_as_zero_percent() -> None:
    from nnport.verify.metrics import percent

    ref = np.zeros(1_000_000, np.float32)
    cand = ref.copy()
    cand[7] = 1.0
    m = tensor_metrics("y", ref, cand, TOL)
    assert not m.passed and "0.0001% out of tolerance" in m.summary()
    assert percent(0.0) == "0.00%" and percent(0.25) == "25.00%"


def test_bisect_says_when_a_drift_inside_does_not_reach_the_outputs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The candidate shifts an intermediate tensor that a Relu then zeroes: the outputs agree,
    bisect still names the shifted node and says that the outputs agree."""
    import onnx
    import onnx.parser

    from nnport.model.io import load
    from nnport.verify.compare import CompareOptions, compare

    text = """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[1, 8] x) => (float[1, 8] y) {{
            s = Constant<value = float {{{shift}}}>()
            t = Constant<value = float {{10.0}}>()
            a = Add(x, s)
            b = Sub(a, t)
            y = Relu(b)
        }}
    """
    for name, shift in (("ref", "0.0"), ("cand", "0.5")):
        onnx.save(onnx.parser.parse_model(text.format(shift=shift)), tmp_path / f"{name}.onnx")
    result = compare(
        load(tmp_path / "ref.onnx"), against=tmp_path / "cand.onnx", backend="onnxruntime",
        options=CompareOptions(bisect=True),
    )  # fmt: skip
    assert result.passed and result.bisect is not None and result.bisect.found
    assert result.bisect.op == "Add"
    assert result.bisect.message.endswith("the outputs still agree within tolerance")
