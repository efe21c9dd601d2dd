"""Results round-trip through JSON, including non-finite floats and nested dataclasses."""

from __future__ import annotations

import math
from dataclasses import dataclass

from nnport.results import dumps, loads


@dataclass(frozen=True)
class Inner:
    value: float
    label: str | None


@dataclass(frozen=True)
class Outer:
    items: tuple[Inner, ...]
    counts: dict[str, int]
    dims: tuple[int | str | None, ...]


def test_round_trip() -> None:
    original = Outer(
        items=(Inner(1.5, "a"), Inner(math.inf, None)),
        counts={"Conv": 3},
        dims=(1, "N", None),
    )
    text = dumps(original)
    assert '"inf"' in text
    assert loads(Outer, text) == original


def test_nan_survives() -> None:
    back = loads(Inner, dumps(Inner(math.nan, "x")))
    assert math.isnan(back.value)
