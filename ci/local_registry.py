"""The local pipeline's registry: a `docker-registry` process on loopback; `ci push` starts it, `ci down` stops it."""

from pathlib import Path

from ci.config import RegistryConfig
from ci.console import progress
from ci.errors import ConfigError
from ci.executor.registry import LocalRegistry, answers, stop_started_registry
from ci.registry_address import is_loopback_registry

LOCAL_REGISTRY_DIR = "build/local-registry"


def local_registry_dir(root: Path) -> Path:
    return root / LOCAL_REGISTRY_DIR


def ensure_local_registry(root: Path, registry: RegistryConfig) -> bool:
    """Start the configured local registry unless something answers at its address; True if it was started."""
    if not is_loopback_registry(registry.address):
        raise ConfigError(f"registry.local is true but registry.address '{registry.address}' is not on this machine "
                          f"(127.0.0.1:<port>); set registry.local = false for a remote registry")
    if answers(registry.address):
        return False
    progress(f"starting the local registry at {registry.address} (storage under {LOCAL_REGISTRY_DIR}/)")
    LocalRegistry(registry.address, local_registry_dir(root)).start()
    return True


def stop_local_registry(root: Path) -> bool:
    return stop_started_registry(local_registry_dir(root))
