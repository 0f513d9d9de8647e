"""The plan for running the built image on this machine (`ci up`): names, labels, ports, limits."""

from dataclasses import dataclass, field

from ci.build_plan import PROJECT_LABEL
from ci.config import Config
from ci.deploy.names import APP_UID, ROLE_LABEL

LOCAL_ROLE = "local-service"


@dataclass(frozen=True)
class LocalServicePlan:
    image: str
    name: str
    container_port: int
    host_port: int
    labels: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    tmpfs: dict[str, str] = field(default_factory=dict)

    @property
    def ports(self) -> dict[str, tuple[str, int]]:
        # Loopback only: a developer's model is not published to the network by accident.
        return {f"{self.container_port}/tcp": ("127.0.0.1", self.host_port or None)}

    @property
    def label_filter(self) -> list[str]:
        return [f"{key}={value}" for key, value in sorted(self.labels.items())]


def local_service_plan(config: Config, image: str) -> LocalServicePlan:
    return LocalServicePlan(
        image=image,
        name=f"{config.project.name}-local",
        container_port=config.service.container_port,
        host_port=config.service.local_port,
        labels={PROJECT_LABEL: config.project.name, ROLE_LABEL: LOCAL_ROLE},
        environment={"PORT": str(config.service.container_port)},
        # The root filesystem is read-only; the prediction log lives on a tmpfs owned by the app user.
        tmpfs={"/data": f"rw,size=64m,uid={APP_UID},gid={APP_UID}"},
    )
