"""Keep secrets out of everything a person or a machine reads: console lines, saved logs, reports, labels."""

from urllib.parse import urlsplit, urlunsplit

MASK = "********"


def redact(text: str, secrets: tuple[str, ...] | list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def without_credentials(url: str) -> str:
    """A URL as it may be shown: without the user:password@ (or token@) a checkout or index URL may carry.
    An scp-like git address (git@host:path) has a user name and no secret, and is kept as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    if not parts.scheme or "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))
