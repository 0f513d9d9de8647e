"""Facts about a registry address (host[:port]) that decide how a target host can reach it."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_loopback_registry(address: str) -> bool:
    return address.rsplit(":", 1)[0] in LOOPBACK_HOSTS
