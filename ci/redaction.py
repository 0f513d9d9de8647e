"""Keep secrets out of everything a person or a machine reads: console lines, saved logs, reports."""

MASK = "********"


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
