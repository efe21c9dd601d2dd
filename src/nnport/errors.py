"""The nnport error hierarchy: every user-facing failure is an NnportError with an exit code."""

from __future__ import annotations


class NnportError(Exception):
    """Base class for errors a user can act on; the CLI prints the message on one line."""

    exit_code: int = 2
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    def one_line(self) -> str:
        """The message and hint flattened into a single line for the terminal."""
        text = " ".join(str(self).split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return text


class UsageError(NnportError):
    """Arguments that do not make sense together or do not parse."""


class ModelLoadError(NnportError):
    """The model file is missing, not ONNX, truncated, or refers to unsafe external data."""


class ModelSaveError(NnportError):
    """An output could not be written (or would overwrite an input)."""


class InputSpecError(NnportError):
    """An --input-shape or --inputs value does not parse or does not fit the model."""


class UnsupportedTargetError(NnportError):
    """The target name is unknown or its profile does not validate."""


class BackendUnavailableError(NnportError):
    """An optional runtime is not installed; the message names the extra to install."""


class BackendError(NnportError):
    """A runtime failed to convert, load or run a model."""

    exit_code = 1


class WorkerTimeoutError(BackendError):
    """A runtime's worker process did not answer within its deadline (it was stopped)."""


class PassError(NnportError):
    """A graph rewrite could not be applied or did not verify."""

    exit_code = 1


class ToleranceExceededError(NnportError):
    """Outputs differ beyond the requested tolerance."""

    exit_code = 1


class DatasetError(NnportError):
    """A dataset folder or file is missing, malformed or does not match its description."""
