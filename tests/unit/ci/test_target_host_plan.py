import pytest

from ci.deploy.names import EnvironmentNames
from ci.errors import CannotRun
from ci.target_host_plan import free_public_port, public_ports, remove_environment_command, target_host_run_kwargs


def run_kwargs(**kwargs):
    return target_host_run_kwargs("ml-model-service", "host-0", "target:1", "ssh-ed25519 AAAA", "host-0-docker",
                                  8080, "test-abc", **kwargs)


def test_a_host_publishes_ssh_and_one_public_port_on_loopback_by_default():
    assert run_kwargs()["ports"] == {"22/tcp": ("127.0.0.1", None), "8080/tcp": ("127.0.0.1", None)}
    fixed = run_kwargs(ssh_host_port=2222, public_host_port=8088)["ports"]
    assert fixed == {"22/tcp": ("127.0.0.1", 2222), "8080/tcp": ("127.0.0.1", 8088)}


def test_a_shared_host_publishes_one_port_per_environment_it_serves():
    assert public_ports(8080, 3) == (8080, 8081, 8082)
    ports = run_kwargs(environment_ports=3, public_host_port=8088)["ports"]
    assert ports == {"22/tcp": ("127.0.0.1", None), "8080/tcp": ("127.0.0.1", 8088),
                     "8081/tcp": ("127.0.0.1", None), "8082/tcp": ("127.0.0.1", None)}
    with pytest.raises(ValueError):
        public_ports(8080, 0)


def test_an_environment_takes_a_port_free_on_every_one_of_its_hosts():
    ports = public_ports(8080, 3)
    assert free_public_port(ports, []) == 8080
    assert free_public_port(ports, [{8080}, set()]) == 8081
    assert free_public_port(ports, [{8080}, {8081}]) == 8082
    with pytest.raises(CannotRun, match="every public port"):
        free_public_port(ports, [{8080, 8081}, {8082}])


def test_removing_an_environment_removes_only_what_carries_its_project_and_environment_labels():
    command = remove_environment_command(EnvironmentNames("ml-model-service", "test-ab12cd", "/var/lib/mlci"))
    filters = "--filter label=io.mlci.project=ml-model-service --filter label=io.mlci.environment=test-ab12cd"
    assert command == ["sh", "-c", " && ".join([
        f"docker ps --all --quiet {filters} | xargs -r docker rm --force --volumes >/dev/null",
        f"docker network ls --quiet {filters} | xargs -r docker network rm >/dev/null",
        f"docker volume ls --quiet {filters} | xargs -r docker volume rm --force >/dev/null",
        "rm -rf -- /var/lib/mlci/ml-model-service/test-ab12cd",
    ])]


def test_an_environment_name_cannot_inject_a_command():
    command = remove_environment_command(EnvironmentNames("p", "x; rm -rf /", "/var/lib/mlci"))[2]
    assert "'label=io.mlci.environment=x; rm -rf /'" in command
    assert "rm -rf -- '/var/lib/mlci/p/x; rm -rf /'" in command
