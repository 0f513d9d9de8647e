from dataclasses import replace
from pathlib import Path

import pytest

from ci.config import Config, apply_env_overrides, config_from_mapping, load_config
from ci.errors import ConfigError

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]


def test_defaults_work_without_a_file(tmp_path):
    config = load_config(tmp_path, environ={})
    assert config == Config()
    assert config.service.container_port == 8000


def test_the_repository_file_loads_and_matches_the_documented_defaults():
    loaded = load_config(REPOSITORY_ROOT, environ={})
    assert replace(loaded, environments={}) == Config()
    assert loaded.environments["local"].local_target is True


def test_file_values_override_defaults(tmp_path):
    (tmp_path / "ci.toml").write_text('[image]\nrepository = "acme/model"\n[service]\nlocal_port = 9000\n')
    config = load_config(tmp_path, environ={})
    assert config.image.repository == "acme/model"
    assert config.service.local_port == 9000
    assert config.image.base == Config().image.base


def test_unknown_key_names_the_key():
    with pytest.raises(ConfigError, match=r"unknown key 'image\.repositry'"):
        config_from_mapping({"image": {"repositry": "x"}}, source="ci.toml")


def test_unknown_section_names_the_section():
    with pytest.raises(ConfigError, match="unknown section 'deploy_targets'"):
        config_from_mapping({"deploy_targets": {}}, source="ci.toml")


@pytest.mark.parametrize("value", ["8000", 8.5, True, -1])
def test_port_of_the_wrong_type_names_the_key(value):
    with pytest.raises(ConfigError, match=r"service\.container_port must (be|not be negative)"):
        config_from_mapping({"service": {"container_port": value}}, source="ci.toml")


def test_empty_string_is_refused():
    with pytest.raises(ConfigError, match=r"image\.base must be a non-empty string"):
        config_from_mapping({"image": {"base": ""}}, source="ci.toml")


def test_invalid_toml_names_the_file(tmp_path):
    (tmp_path / "ci.toml").write_text("[image\n")
    with pytest.raises(ConfigError, match="ci.toml: not valid TOML"):
        load_config(tmp_path, environ={})


def test_environment_overrides_a_key():
    config = apply_env_overrides(Config(), {"MLCI_SERVICE_LOCAL_PORT": "9100", "MLCI_IMAGE_BASE": "debian:12"})
    assert config.service.local_port == 9100
    assert config.image.base == "debian:12"


def test_environment_override_with_unknown_key_names_the_variable():
    with pytest.raises(ConfigError, match="MLCI_SERVICE_LOCAL_PROT: unknown key 'service.local_prot'"):
        apply_env_overrides(Config(), {"MLCI_SERVICE_LOCAL_PROT": "1"})


def test_environment_override_with_bad_number_names_the_variable():
    with pytest.raises(ConfigError, match="MLCI_SERVICE_LOCAL_PORT must be a whole number"):
        apply_env_overrides(Config(), {"MLCI_SERVICE_LOCAL_PORT": "eighty"})


def test_unrelated_environment_variables_are_ignored():
    assert apply_env_overrides(Config(), {"CI": "true", "BUILD_NUMBER": "7", "PATH": "/bin"}) == Config()


def test_an_environment_needs_one_url_per_host_and_a_known_transfer():
    with pytest.raises(ConfigError, match="public_urls must give one URL per host"):
        config_from_mapping({"environments": {"prod": {"hosts": ["a@b:22", "a@c:22"], "public_urls": ["http://b"]}}},
                            source="ci.toml")
    with pytest.raises(ConfigError, match="image_transfer must be one of auto, pull, stream"):
        config_from_mapping({"environments": {"prod": {"hosts": ["a@b:22"], "public_urls": ["http://b"],
                                                       "image_transfer": "ftp"}}}, source="ci.toml")
    with pytest.raises(ConfigError, match=r"unknown key 'environments\.prod\.hostz'"):
        config_from_mapping({"environments": {"prod": {"hostz": []}}}, source="ci.toml")


def test_another_configuration_file_can_be_selected(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[project]\nname = "elsewhere"\n')
    assert load_config(REPOSITORY_ROOT, environ={"MLCI_CONFIG_FILE": str(other)}).project.name == "elsewhere"
