"""Which base image a build uses: the configured one where it exists or can be pulled, else the bootstrapped one."""

from dataclasses import dataclass
from pathlib import Path

from ci.config import ImageConfig
from ci.executor import docker_engine


@dataclass(frozen=True)
class BaseChoice:
    reference: str
    reason: str
    needs_bootstrap: bool = False


def choose_base(image: ImageConfig, base_present: bool, pull_error: str | None,
                bootstrap_present: bool) -> BaseChoice:
    """pull_error is None when no pull was attempted, '' when the pull succeeded."""
    if base_present:
        return BaseChoice(image.base, "present locally")
    if pull_error == "":
        return BaseChoice(image.base, "pulled from its registry")
    if bootstrap_present:
        return BaseChoice(image.bootstrap_base, f"{image.base} unavailable ({pull_error}); using the bootstrapped base")
    return BaseChoice(image.bootstrap_base, f"{image.base} unavailable ({pull_error})", needs_bootstrap=True)


def resolve_base(client, image_config) -> BaseChoice:
    base_present = docker_engine.image_present(client, image_config.base)
    pull_error = None if base_present else docker_engine.try_pull(client, image_config.base)
    return choose_base(image_config, base_present, pull_error,
                       docker_engine.image_present(client, image_config.bootstrap_base))


# Trimmed like the official slim images: no docs, man pages or locales; merged /usr without
# the usrmerge package (which would drag Perl in).
BOOTSTRAP_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BOOTSTRAP_EXCLUDES = ("/usr/share/man/*", "/usr/share/locale/*", "/usr/share/doc/*", "/usr/share/info/*")


def bootstrap_command(suite: str, tarball: Path) -> list[str]:
    """mmdebstrap a minimal Debian root filesystem with Python, from the host's own apt sources and trust."""
    command = [
        "mmdebstrap", "--variant=minbase", f"--include={','.join(BOOTSTRAP_PACKAGES)}",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    ]
    command += [f"--dpkgopt=path-exclude={pattern}" for pattern in BOOTSTRAP_EXCLUDES]
    command += ["--dpkgopt=path-include=/usr/share/doc/*/copyright", suite, str(tarball)]
    return command
