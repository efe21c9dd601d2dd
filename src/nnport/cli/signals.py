"""SIGINT and SIGTERM stop a run the same way: KeyboardInterrupt unwinds it (every ``finally``
removes its temporary files), and the exit code says so even if something swallowed it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interruptible() -> Iterator[Callable[[int], int]]:
    """Handle SIGINT and SIGTERM inside the block; yields ``outcome(code)``, the exit code to
    use: ``128 + signal`` once a signal arrived (a run that was told to stop never reports
    success, even when library code caught the KeyboardInterrupt), else ``code``."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt(signal.Signals(signum).name)

    def outcome(code: int) -> int:
        return 128 + received[0] if received else code

    if threading.current_thread() is not threading.main_thread():
        yield outcome  # only the main thread may set handlers; leave them as they are
        return
    previous = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    for sig in _SIGNALS:
        if previous[sig] is not signal.SIG_IGN:  # nohup and friends: stay ignored
            signal.signal(sig, handler)
    try:
        yield outcome
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
