"""What a command returns: its exit code and the one line a person reads at the end."""

from dataclasses import dataclass

from ci.errors import EXIT_FAILED, EXIT_OK


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    summary: str

    @classmethod
    def ok(cls, summary: str) -> "Outcome":
        return cls(EXIT_OK, summary)

    @classmethod
    def failed(cls, summary: str) -> "Outcome":
        return cls(EXIT_FAILED, summary)
