"""A plain registry process (Debian's docker-registry, CNCF distribution 2.8) on loopback: its configuration as data."""

import json


def registry_config(address: str, storage_dir: str, htpasswd_path: str | None = None) -> str:
    """The registry's YAML configuration (JSON is valid YAML). Loopback address, filesystem storage."""
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": storage_dir}, "delete": {"enabled": False}},
        "http": {"addr": address},
    }
    if htpasswd_path:
        config["auth"] = {"htpasswd": {"realm": "ci-registry", "path": htpasswd_path}}
    return json.dumps(config, indent=2)
