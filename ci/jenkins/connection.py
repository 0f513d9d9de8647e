"""Where Jenkins is and who we are there: JENKINS_URL, JENKINS_USER and JENKINS_API_TOKEN from the environment."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ci.errors import ConfigError

URL_VARIABLE = "JENKINS_URL"
USER_VARIABLE = "JENKINS_USER"
TOKEN_VARIABLE = "JENKINS_API_TOKEN"
TLS_VERIFY_VARIABLE = "JENKINS_TLS_VERIFY"
_TRUE_WORDS = ("true", "1", "yes", "on")
_FALSE_WORDS = ("false", "0", "no", "off")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class JenkinsConnection:
    url: str
    user: str
    token: str = field(repr=False)
    verify_tls: bool = True


def connection_from(environ: Mapping[str, str], insecure: bool = False) -> JenkinsConnection:
    """URL, user and API token from the environment (Jenkins credentials binding); each one is required."""
    values = {}
    for variable in (URL_VARIABLE, USER_VARIABLE, TOKEN_VARIABLE):
        value = environ.get(variable, "").strip()
        if not value:
            raise ConfigError(f"{variable} is not set: the Jenkins client needs {URL_VARIABLE}, {USER_VARIABLE} "
                              f"and {TOKEN_VARIABLE} (an API token from <jenkins>/me/configure)")
        values[variable] = value
    url = values[URL_VARIABLE].rstrip("/") + "/"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{URL_VARIABLE} must be an http(s) URL such as https://jenkins.example.com/, "
                          f"got {_without_userinfo(values[URL_VARIABLE])!r}")
    if parts.username or parts.password:
        # The URL is printed in progress and error lines; credentials belong in the two variables that are not.
        raise ConfigError(f"{URL_VARIABLE} must not carry credentials ({_without_userinfo(url)}): set "
                          f"{USER_VARIABLE} and {TOKEN_VARIABLE} instead")
    return JenkinsConnection(url, values[USER_VARIABLE], values[TOKEN_VARIABLE],
                             verify_tls=not insecure and tls_verify_from(environ))


def tls_verify_from(environ: Mapping[str, str]) -> bool:
    raw = environ.get(TLS_VERIFY_VARIABLE, "").strip().lower()
    if raw in ("", *_TRUE_WORDS):
        return True
    if raw in _FALSE_WORDS:
        return False
    raise ConfigError(f"{TLS_VERIFY_VARIABLE} must be true or false, got {raw!r}")


def connection_warnings(connection: JenkinsConnection) -> list[str]:
    """What a person must see before anything is sent: a token that could be read or handed to an impostor."""
    parts = urlsplit(connection.url)
    warnings = []
    if parts.scheme == "https" and not connection.verify_tls:
        warnings.append(f"TLS certificate verification is OFF for {connection.url} (--insecure or "
                        f"{TLS_VERIFY_VARIABLE}=false): anyone in the path can impersonate Jenkins and take "
                        f"{USER_VARIABLE}'s API token")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        warnings.append(f"{URL_VARIABLE} is plain http: {USER_VARIABLE}'s API token crosses the network unencrypted")
    return warnings


def _without_userinfo(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//", url)
