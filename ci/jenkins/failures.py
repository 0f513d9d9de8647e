"""A Jenkins call that failed, and the one line (with its exit code) a person reads for it."""

from dataclasses import dataclass

from ci.config import JenkinsConfig
from ci.errors import CannotRun, ConfigError, UserError
from ci.jenkins.connection import TOKEN_VARIABLE, USER_VARIABLE, JenkinsConnection


@dataclass(eq=False)
class JenkinsFailure(Exception):
    """What was tried (`read` + `build #7 of ml-model-service/main`), the HTTP status (None when no HTTP answer
    came), and a one-line detail with the token already removed. `refusal` is Jenkins's own message for a refused
    request (its X-Error header); `not_found` says what a 404 means for this call."""

    action: str
    subject: str
    status: int | None
    detail: str
    reached: bool = True
    input_id: str | None = None
    bad_crumb: bool = False
    refusal: str | None = None
    not_found: str | None = None

    def __str__(self) -> str:
        status = f"HTTP {self.status}: " if self.status else ""
        return f"could not {self.action} {self.subject}: {status}{self.detail}"


def error_for_failure(failure: JenkinsFailure, connection: JenkinsConnection, jenkins: JenkinsConfig) -> UserError:
    """One line a person can act on, with the exit code of ci/errors.py: 2 for who you are or what you named
    (credentials, permission, a refusal, a job, build or input that does not exist), 3 when Jenkins could not be
    used."""
    where = f"Jenkins at {connection.url}"
    if not failure.reached:
        return CannotRun(f"{where} is unreachable: {failure.detail}")
    if failure.status == 401:
        return ConfigError(f"{where} refused the credentials: check {USER_VARIABLE} ({connection.user}) and "
                           f"{TOKEN_VARIABLE}")
    if failure.bad_crumb:
        return CannotRun(f"{where} refused its own CSRF crumb twice ({failure.action} {failure.subject}): "
                         f"{failure.detail}")
    if failure.refusal:
        # A hudson.model.Failure: HTTP 400, its message in X-Error (jenkinsci/jenkins:
        # core/src/main/resources/hudson/model/AbstractModelObject/error.jelly). The input step refuses this way.
        hint = ""
        if failure.input_id:
            hint = (f" (as {connection.user}; approvers are {jenkins.release_managers} and Jenkins administrators, "
                    f"and anyone with Job/Cancel on the job may reject)")
        return UserError(f"Jenkins refused to {failure.action} {failure.subject}: {failure.refusal}{hint}")
    if failure.status == 403:
        return ConfigError(f"Jenkins refused: {connection.user} may not {failure.action} {failure.subject} "
                           f"(HTTP 403); check the permissions of {USER_VARIABLE}")
    if failure.status == 404:
        missing = failure.not_found or failure.subject
        hint = ""
        if missing == f"job {jenkins.job_name}":
            hint = " (create it with `python -m ci jenkins sync-job`)"
        elif missing.startswith(f"job {jenkins.job_name}/"):
            # branch-api makes a branch's job when a scan (or a push webhook) sees the branch or tag.
            hint = " (is that branch or tag pushed? the project makes its job at its next scan: Scan Repository Now)"
        return UserError(f"{where} has no {missing}{hint}")
    return CannotRun(f"{where} {failure}")
