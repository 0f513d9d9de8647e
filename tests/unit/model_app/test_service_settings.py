"""Settings (model_app/settings.py): defaults, every variable parsed, bad values named."""

from dataclasses import fields
from pathlib import Path

import pytest

from model_app.settings import Settings, SettingsError, settings_from_env

FULL_ENVIRONMENT = {
    "MODEL_DIR": "/srv/model",
    "HOST": "0.0.0.0",
    "PORT": "9090",
    "MAX_BATCH": "64",
    "MAX_BODY_BYTES": "2048",
    "DATABASE_URL": "postgresql://app:secret@db:5432/predictions",
    "PREDICTION_LOG_PATH": "/var/lib/predictions.sqlite",
    "PREDICTION_LOG_QUEUE": "500",
    "PREDICTION_LOG_QUEUE_BYTES": "1048576",
    "SHUTDOWN_TIMEOUT_SECONDS": "3",
    "LOG_LEVEL": "debug",
    "RELEASE_ID": "20261126T101500-0c89f6af6c8e",
}


def test_defaults_work_locally():
    settings = settings_from_env({})
    assert settings == Settings()
    assert settings.model_dir == Path("build/model")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert (settings.max_batch, settings.max_body_bytes) == (256, 1_048_576)
    assert settings.database_url == ""
    assert settings.prediction_log_path == Path("build/predictions.sqlite")
    assert settings.prediction_log_queue == 100_000
    assert settings.prediction_log_queue_bytes == 64 * 2**20
    assert settings.shutdown_timeout_seconds == 10
    assert settings.log_level == "info"


def test_every_variable_is_parsed():
    settings = settings_from_env(FULL_ENVIRONMENT)
    assert settings == Settings(
        model_dir=Path("/srv/model"), host="0.0.0.0", port=9090, max_batch=64, max_body_bytes=2048,
        database_url="postgresql://app:secret@db:5432/predictions",
        prediction_log_path=Path("/var/lib/predictions.sqlite"), prediction_log_queue=500,
        prediction_log_queue_bytes=1_048_576, shutdown_timeout_seconds=3, log_level="debug",
        release_id="20261126T101500-0c89f6af6c8e",
    )
    assert isinstance(settings.model_dir, Path) and isinstance(settings.port, int)


def test_every_setting_differs_from_its_default_in_the_full_environment():
    # Guards the test above: a variable that was silently ignored would show here.
    parsed, defaults = settings_from_env(FULL_ENVIRONMENT), Settings()
    for field in fields(Settings):
        assert getattr(parsed, field.name) != getattr(defaults, field.name), field.name


def test_empty_values_mean_default():
    assert settings_from_env({variable: "" for variable in FULL_ENVIRONMENT}) == Settings()


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.setenv("LOG_LEVEL", "warning")
    settings = settings_from_env()
    assert (settings.port, settings.log_level) == (8123, "warning")


def test_postgres_scheme_alias_is_accepted():
    assert settings_from_env({"DATABASE_URL": "postgres://db/x"}).database_url == "postgres://db/x"


@pytest.mark.parametrize("variable, value", [
    ("PORT", "abc"),
    ("PORT", "80.5"),
    ("PORT", "0"),
    ("PORT", "-1"),
    ("PORT", "70000"),
    ("MAX_BATCH", "0"),
    ("MAX_BATCH", "many"),
    ("MAX_BODY_BYTES", "1MB"),
    ("PREDICTION_LOG_QUEUE", "-5"),
    ("SHUTDOWN_TIMEOUT_SECONDS", "0"),
    ("LOG_LEVEL", "loud"),
    ("DATABASE_URL", "mysql://x"),
    ("DATABASE_URL", "sqlite:///tmp/x.db"),
])
def test_bad_value_raises_settings_error_naming_the_variable(variable, value):
    with pytest.raises(SettingsError) as raised:
        settings_from_env({variable: value})
    assert str(raised.value).startswith(variable)


@pytest.mark.parametrize("variable, value, expected", [
    ("PORT", "abc", "PORT must be a whole number, got 'abc'"),
    ("MAX_BATCH", "0", "MAX_BATCH must be positive, got 0"),
    ("PORT", "70000", "PORT must be at most 65535, got 70000"),
])
def test_error_messages_say_what_is_wrong(variable, value, expected):
    with pytest.raises(SettingsError, match=f"^{expected}$"):
        settings_from_env({variable: value})


def test_log_level_error_lists_the_allowed_levels():
    with pytest.raises(SettingsError, match="LOG_LEVEL must be one of critical, error, warning, info, debug"):
        settings_from_env({"LOG_LEVEL": "loud"})


def test_log_level_is_case_insensitive():
    assert settings_from_env({"LOG_LEVEL": "WARNING"}).log_level == "warning"


# A database password never reaches a log (issue 14, defect 5) ---------------------------------------------

@pytest.mark.parametrize("url", ["postgresql://app:Pa%ss-w0rd@db:5432/predictions",
                                 "postgresql://app:Pa%zzss-w0rd@db/predictions", "postgresql://app:Pa%ss-w0rd%@db/x"])
def test_a_raw_percent_in_the_database_url_stops_the_service_without_echoing_the_password(url):
    with pytest.raises(SettingsError) as raised:
        settings_from_env({"DATABASE_URL": url})
    message = str(raised.value)
    assert message.startswith("DATABASE_URL")
    assert "%25" in message  # says how to write it
    assert "ss-w0rd" not in message and "Pa%" not in message


def test_a_percent_encoded_password_is_accepted():
    url = "postgresql://app:Pa%25ss%2Fw0rd@db:5432/predictions"
    assert settings_from_env({"DATABASE_URL": url}).database_url == url
