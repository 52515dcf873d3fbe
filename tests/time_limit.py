"""A wall-clock limit on one block of a test, so a hang fails that example instead of the whole suite."""

import contextlib
import signal


class Hang(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: float):
    """Raise Hang in the block once it runs past `seconds` (SIGALRM: the main thread only)."""
    def _raise(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
