"""Target profiles: the TOML schema as frozen dataclasses (reading and validating: ``profile_read``;
writing: ``profile_write``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nnport.errors import UnsupportedTargetError

DEFAULT_DOMAIN = "ai.onnx"
INT64_POLICIES = ("native", "constant", "none")
BROADCAST_POLICIES = ("any", "per-channel", "none")
UNLISTED_POLICIES = ("unsupported", "supported")
VARIABLE_DIMS = ("batch", "image", "any")
IO_KINDS = ("sequence", "optional", "map")  # graph input/output types other than tensors
# Number formats a device computes in (docs/targets.md, "Precision").
FORMATS = ("fp32", "fp16", "bf16", "int8", "int16")
# What a target does with a model that arrives quantized (QuantizeLinear/DequantizeLinear pairs):
# runs it as is, or wants the float model and its own calibration.
QDQ_POLICIES = ("consumes", "calibrates")
# Conditions a default format may depend on, checked on the machine that verifies.
FORMAT_CONDITIONS = ("cpu-bf16",)
# The measured runtime defects a profile may list: one detector each in nnport.check.defects
# (a test holds the two lists equal).
DEFECT_NAMES = (
    "if-empty-constant",
    "tile-runtime-repeats",
    "pool-ceil-extra-window",
    "avgpool-ceil-extra-window",
    "dynamic-rank",
    "reduce-empty-bool",
    "attention-mask-length",
    "attention-mask-length-padded",
    "empty-tensor",
    "linear-bias",
    "passthrough-graph",
    "gather-index-list",
    "deconv-runtime-weight",
    "resize-nearest-mode",
    "resize-nearest-index",
    "split-uneven-parts",
    "reduce-axes-input",
)
_OPEN = 10_000  # upper bound used for an open version range ("13+")
_RANGE = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)|(\+))?\s*$")


def profile_error(where: str, problem: str) -> UnsupportedTargetError:
    """The one-line error for a profile entry that is wrong ('invalid target profile: WHERE: ...')."""
    return UnsupportedTargetError(f"invalid target profile: {where}: {problem}")


def canonical_domain(domain: str | None) -> str:
    """'' and 'ai.onnx' both name the default ONNX domain; return 'ai.onnx' for either."""
    return domain or DEFAULT_DOMAIN


@dataclass(frozen=True)
class VersionRange:
    """An inclusive range of opset versions; ``hi`` None means open-ended ('13+')."""

    lo: int
    hi: int | None = None

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lo <= version <= (self.hi or _OPEN)

    def text(self) -> str:
        """'9-13', '13+' or '11'."""
        if self.hi is None:
            return f"{self.lo}+"
        return str(self.lo) if self.hi == self.lo else f"{self.lo}-{self.hi}"

    @classmethod
    def parse(cls, value: Any, where: str) -> VersionRange:
        """Parse '9-13', '13+', '11' or an integer."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value, value)
        match = _RANGE.match(value) if isinstance(value, str) else None
        if not match:
            raise profile_error(
                where, f"{value!r} is not a version range (use '9-13', '13+' or '11')"
            )
        lo = int(match.group(1))
        if match.group(4):
            return cls(lo, None)
        hi = int(match.group(3)) if match.group(2) else lo
        if hi < lo:
            raise profile_error(where, f"version range {value!r} ends before it starts")
        return cls(lo, hi)


# Attributes that only take effect in one mode (ONNX Resize): elsewhere they are not judged.
MODE_ONLY = {("Resize", "nearest_mode"): "nearest", ("Resize", "cubic_coeff_a"): "cubic",
             ("Resize", "exclude_outside"): "cubic"}  # fmt: skip


@dataclass(frozen=True)
class OpRule:
    """What a target accepts for one operator (one entry of ``[[ops]]``).

    An op may have several entries (for example one per version range with different dtypes);
    a node is accepted when any entry for its (domain, op) accepts it.
    Dtype maps are keyed by input/output position as a string, or '*' for every position.
    """

    op: str
    domain: str = DEFAULT_DOMAIN
    versions: tuple[VersionRange, ...] = ()
    input_dtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    output_dtypes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attributes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    forbidden_attributes: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    # attribute values refused together, each allowed on its own: ((name, value), ...) per entry
    forbidden_combinations: tuple[tuple[tuple[str, Any], ...], ...] = ()
    required_attributes: tuple[str, ...] = ()  # attributes without a default it needs set
    forbidden_dtype_pairs: tuple[tuple[str, str], ...] = ()  # (input 0, output 0) dtypes
    constant_inputs: tuple[int, ...] = ()
    absent_inputs: tuple[int, ...] = ()  # optional input positions the target cannot take
    absent_outputs: tuple[int, ...] = ()  # optional outputs it cannot produce (LN's Mean)
    min_inputs: int = 0  # fewer inputs given than this fail (ncnn's one-input Sum)
    max_inputs: int | None = None  # more inputs given than this fail (ncnn's three-input Max)
    one_element_inputs: tuple[int, ...] = ()  # inputs that must hold one element (per-tensor)
    input_values: dict[str, tuple[int | float, ...]] = field(default_factory=dict)
    max_rank: int | None = None
    broadcast: str = "any"
    integer_scales: bool = False
    note: str = ""

    def accepts_version(self, version: int) -> bool:
        """True when ``version`` (the model's opset for this op's domain) is in a listed range."""
        return not self.versions or any(version in r for r in self.versions)

    def versions_text(self) -> str:
        """The version ranges as text ('any' when unrestricted)."""
        return ", ".join(r.text() for r in self.versions) or "any"

    @staticmethod
    def dtypes_at(table: Mapping[str, tuple[str, ...]], index: int) -> tuple[str, ...] | None:
        """Allowed dtypes at one position (None when unrestricted)."""
        if str(index) in table:
            return table[str(index)]
        return table.get("*")


@dataclass(frozen=True)
class GraphRules:
    """Target-wide rules that apply to the graph as a whole."""

    input_dtypes: tuple[str, ...] = ()
    output_dtypes: tuple[str, ...] = ()
    static_shapes: bool = False
    variable_dims: tuple[str, ...] = ()
    variable_dims_note: str = ""
    int64: str = "native"
    max_rank: int | None = None
    tensor_dtypes: tuple[str, ...] = ()
    folds_constants: bool = False
    batch_anchor_ops: tuple[str, ...] = ()  # the converter needs one of these to know the batch
    batch_free_ops: tuple[str, ...] = ()  # ops right on a first axis != 1 (with batch anchors)
    defects: tuple[
        str, ...
    ] = ()  # measured runtime defects (nnport.check.defects.registry.DEFECTS)
    refused_io_kinds: tuple[str, ...] = ()  # non-tensor graph inputs/outputs (IO_KINDS) refused


@dataclass(frozen=True)
class Source:
    """Where a profile's facts come from: a document and its version, or a probe run."""

    document: str = ""
    version: str = ""
    url: str = ""
    probe: str = ""

    def text(self) -> str:
        """A one-line citation."""
        if self.probe:
            return f"probe: {self.probe}"
        return f"{self.document} ({self.version})" if self.version else self.document


@dataclass(frozen=True)
class Precision:
    """The number format the target's device computes in by default, and its other options.

    ``default`` holds where ``requires`` (a FORMAT_CONDITIONS name) holds on the verifying
    machine, else ``fallback``. ``flags`` maps a format to the converter option that selects it;
    ``keep_fp32`` names how the converter keeps single nodes in fp32 ('keep-dtype': ATC's
    --keep_dtype file). ``qdq`` says what the target does with an already quantized model.
    """

    default: str = "fp32"
    options: tuple[str, ...] = ()
    requires: str = ""
    fallback: str = ""
    flags: dict[str, str] = field(default_factory=dict)
    keep_fp32: str = ""
    qdq: str = ""
    qdq_note: str = ""
    source: str = ""
    url: str = ""

    def formats(self) -> tuple[str, ...]:
        """The default, the fallback and the options, once each."""
        return tuple(f for f in dict.fromkeys((self.default, self.fallback, *self.options)) if f)

    def text(self) -> str:
        """'fp16 (options: fp32, int8)' or 'bf16 where the CPU has bf16 units, else fp32'."""
        head = self.default
        if self.requires:
            head += f" {CONDITION_TEXT.get(self.requires, self.requires)}, else {self.fallback}"
        others = [f for f in self.options if f not in (self.default, self.fallback)]
        return head + (f" (options: {', '.join(others)})" if others else "")


CONDITION_TEXT = {"cpu-bf16": "where the CPU has bf16 units (AVX512_BF16 or AMX)"}


@dataclass(frozen=True)
class TargetProfile:
    """A deployment target: opset range, per-op rules and graph-wide rules (see docs/targets.md)."""

    name: str
    description: str
    date: str
    source: Source
    opsets: dict[str, VersionRange]
    graph: GraphRules = field(default_factory=GraphRules)
    ops: tuple[OpRule, ...] = ()
    unlisted_ops: str = "unsupported"
    expands_functions: bool = False
    unexpanded_functions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    precision: Precision = field(default_factory=Precision)
    path: str = ""

    def rules_for(self, op: str, domain: str) -> tuple[OpRule, ...]:
        """Every ``[[ops]]`` entry for (domain, op)."""
        domain = canonical_domain(domain)
        return tuple(r for r in self.ops if r.op == op and r.domain == domain)

    def expands(self, op: str, version: int) -> bool:
        """False when ``unexpanded_functions`` names the ai.onnx op ('Swish') or the op at
        this opset ('Swish:25+': ONNX Runtime expands Swish-24 only in opset-24 models)."""
        for entry in self.unexpanded_functions:
            name, _, versions = entry.partition(":")
            if name == op and (not versions or version in VersionRange.parse(versions, entry)):
                return False
        return True

    def opset_text(self) -> str:
        """'ai.onnx 9-13' style summary of the accepted opset range(s)."""
        return ", ".join(f"{d} {r.text()}" for d, r in self.opsets.items())

    def op_names(self) -> list[str]:
        """Sorted distinct operator names listed (domain-qualified outside ai.onnx)."""
        names = {r.op if r.domain == DEFAULT_DOMAIN else f"{r.domain}::{r.op}" for r in self.ops}
        return sorted(names)


# ---------------------------------------------------------------------------------------------
# Validation (dict from TOML -> dataclasses)
# ---------------------------------------------------------------------------------------------
