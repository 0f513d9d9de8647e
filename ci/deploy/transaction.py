"""What a deploy has changed on a host and how to undo it, and the abort every step checks for first."""

import threading
from collections.abc import Callable

from ci.errors import CannotRun


class Aborted(CannotRun):
    """The deploy was told to stop (Ctrl-C, SIGTERM, another host's failure, a lost lock); raised at a safe point,
    between steps, so that no step is left half done."""


class Abort:
    """Set once, by whoever decides the deploy stops; read by every host's steps between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Aborted(self.reason)


class Undo:
    """Each change's undo, registered as the change is made; undone newest first, every undo tried."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], None]]] = []

    def push(self, what: str, action: Callable[[], None]) -> None:
        self._steps.append((what, action))

    def __bool__(self) -> bool:
        return bool(self._steps)

    def run(self) -> list[str]:
        """Undo everything registered, newest first; returns what could not be undone and why ([] when all was)."""
        failures = []
        while self._steps:
            what, action = self._steps.pop()
            try:
                action()
            except Exception as error:  # one failed undo must not keep the others from running
                failures.append(f"{what}: {error}")
        return failures
