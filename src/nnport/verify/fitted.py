"""Feed each model what it declares: a runner wrapper that casts feeds to its inputs' dtypes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nnport.backends.base import Feeds, Runner
from nnport.model.specs import TensorInfo


def fit_feeds(feeds: Feeds, dtypes: Mapping[str, str]) -> dict[str, np.ndarray]:
    """``feeds`` with each array cast to the dtype its input declares, where the values survive.

    A fixed model can take an input in another dtype than the original (``cast-graph-io``
    retypes int64 token ids to float32, exact up to 2**24): both models then see the same
    values, each in its own type. A cast that would change a value (a fraction to an integer,
    an id past float32's exact range) is not made; the runtime then names the mismatch.
    """
    fitted: dict[str, np.ndarray] = {}
    for name, value in feeds.items():
        array = np.asarray(value)
        want = _numpy_dtype(dtypes.get(name))
        if want is None or array.dtype == want:
            fitted[name] = array
            continue
        cast = array.astype(want)
        floats = np.issubdtype(array.dtype, np.floating) and np.issubdtype(want, np.floating)
        exact = floats or bool(np.array_equal(cast.astype(array.dtype), array))
        fitted[name] = cast if exact else array
    return fitted


def _numpy_dtype(name: str | None) -> np.dtype[Any] | None:
    if not name or name in ("string", "bfloat16"):
        return None
    try:
        return np.dtype(name)
    except TypeError:
        return None


class FittedRunner(Runner):
    """Wraps a runner so that every feed reaches it in the dtypes its model declares."""

    def __init__(self, inner: Runner) -> None:
        super().__init__()
        self.inner = inner
        self.name = inner.name
        self._dtypes: dict[str, str] = {}

    def _activate(self) -> None:
        self.inner.__enter__()
        self._dtypes = {spec.name: spec.dtype for spec in self.inner.input_specs()}

    def _deactivate(self) -> None:
        self.inner.__exit__(None, None, None)

    def input_specs(self) -> list[TensorInfo]:
        return self.inner.input_specs()

    def _infer(self, feeds: Feeds) -> dict[str, np.ndarray]:
        return self.inner.infer(fit_feeds(feeds, self._dtypes))

    def config(self) -> dict[str, str]:
        return self.inner.config()

    def __getattr__(self, name: str) -> Any:
        # output_names(), worker_time and other runner-specific attributes
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
