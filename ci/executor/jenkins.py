"""The Jenkins session: python-jenkins's requests session (auth, crumb) for every call, to ci.jenkins.paths' paths."""

import codecs
import re
import time
from collections.abc import Callable
from urllib.parse import urlencode, urljoin

import jenkins
import requests
import urllib3

from ci.jenkins import paths
from ci.jenkins.answers import ConsoleChunk, console_chunk, queue_id_from_location
from ci.jenkins.connection import JenkinsConnection
from ci.jenkins.failures import JenkinsFailure
from ci.jenkins.paths import JobRef
from ci.redaction import redact

REQUEST_TIMEOUT_SECONDS = 30.0


class JenkinsSession:
    def __init__(self, connection: JenkinsConnection, timeout_seconds: float = REQUEST_TIMEOUT_SECONDS):
        self.connection = connection
        self.server = jenkins.Jenkins(connection.url, username=connection.user, password=connection.token,
                                      timeout=timeout_seconds)
        if not connection.verify_tls:
            # python-jenkins has no switch for this (only the process-wide PYTHONHTTPSVERIFY=0); its requests session
            # is where verification lives. The command has already said so loudly, once, instead of urllib3 per call.
            self.server._session.verify = False
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def identity(self) -> tuple[str, str]:
        """Who Jenkins takes us for, and its version (the X-Jenkins header): the first call proves the token."""
        me = self._call("read", "/me (the credentials' user)", self.server.get_whoami)
        version = self._call("read", "its version", self.server.get_version)
        return me.get("id", self.connection.user), version

    # --- jobs ---------------------------------------------------------------------------------------------------

    def job_config(self, job: JobRef) -> str | None:
        """The job's config.xml, or None when there is no such job."""
        try:
            return self._request("read the configuration of", f"job {job.label}", "GET", paths.config_path(job)).text
        except JenkinsFailure as failure:
            if failure.status == 404:
                return None
            raise

    def create_job(self, job: JobRef, config_xml: str) -> None:
        self._request("create", f"job {job.label}", "POST", paths.create_item_path(job), data=config_xml.encode(),
                      headers={"Content-Type": "application/xml"})

    def update_job(self, job: JobRef, config_xml: str) -> None:
        self._request("update", f"job {job.label}", "POST", paths.config_path(job), data=config_xml.encode(),
                      headers={"Content-Type": "application/xml"})

    def job_info(self, job: JobRef, tree: str = paths.JOB_TREE) -> dict:
        return self.get_json("read", f"job {job.label}", paths.api_path(job, tree), not_found=f"job {job.label}")

    def queue_build(self, job: JobRef, parameters: dict[str, str], parameterized: bool) -> int:
        """The queue item's id, from the Location header of Jenkins's 201."""
        response = self._request("start", f"job {job.label}", "POST", paths.build_trigger_path(job, parameterized),
                                 data=parameters or None)
        return queue_id_from_location(response.headers.get("Location", ""))

    def queue_item(self, queue_id: int) -> dict:
        return self.get_json("read", f"queue item {queue_id}", paths.queue_item_path(queue_id))

    # --- builds ------------------------------------------------------------------------------------------------

    def build_info(self, job: JobRef, number: int) -> dict:
        subject = f"build #{number} of {job.label}"
        return self.get_json("read", subject, paths.build_api_path(job, number), not_found=subject)

    def console_text(self, job: JobRef, number: int) -> str:
        subject = f"build #{number} of {job.label}"
        return self._request("read the console of", subject, "GET", paths.console_text_path(job, number),
                             not_found=subject).text

    def console_chunk(self, job: JobRef, number: int, start: int) -> ConsoleChunk:
        response = self._request("read the console of", f"build #{number} of {job.label}", "GET",
                                 paths.progressive_text_path(job, number, start))
        return console_chunk(response.content, response.headers, start)

    def submit_input(self, job: JobRef, number: int, input_id: str, approve: bool) -> None:
        """Answer an input step as JENKINS_USER: Jenkins checks that user against the step's submitters."""
        subject = f"input {input_id} of build #{number} of {job.label}"
        self._request("approve" if approve else "reject", subject, "POST",
                      paths.input_submit_path(job, number, input_id, approve),
                      data=paths.PROCEED_FORM if approve else None, input_id=input_id,
                      not_found=f"pending input {input_id} in build #{number} of {job.label} (answered already, or "
                                f"the build has moved on)")

    def follow_console(self, job: JobRef, number: int, write: Callable[[str], None], poll_seconds: float,
                       deadline: float) -> bool:
        """Write the console as it grows until the build stops writing (True) or the deadline passes (False)."""
        # Text arrives in byte ranges that may split a UTF-8 character; the decoder keeps the half for the next one.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        start = 0
        while True:
            chunk = self.console_chunk(job, number, start)
            text = decoder.decode(chunk.data, final=not chunk.more)
            if text:
                write(text)
            start = chunk.next_start
            if not chunk.more:
                return True
            if time.monotonic() >= deadline:
                return False
            # Each answer carries everything written since `start`, so waiting between polls loses nothing.
            time.sleep(poll_seconds)

    # --- what doctor reads ------------------------------------------------------------------------------------

    def notify_commit(self, url: str, token: str | None) -> requests.Response:
        """The git plugin's webhook, answered without raising: its status says whether the token is accepted."""
        query = {"url": url, **({"token": token} if token else {})}
        return self._call("call", "the git plugin's /git/notifyCommit", self._send, "GET",
                          f"git/notifyCommit?{urlencode(query)}", None, None, False)

    def script_text(self, script: str) -> str:
        return self._request("run a script console check on", "Jenkins", "POST", "scriptText",
                             data={"script": script}).text

    # --- one error type for everything ------------------------------------------------------------------------

    def get_json(self, action: str, subject: str, path: str, not_found: str | None = None):
        response = self._request(action, subject, "GET", path, not_found=not_found)
        try:
            return response.json()
        except ValueError:
            raise JenkinsFailure(action, subject, response.status_code, "the answer is not JSON") from None

    def _request(self, action: str, subject: str, method: str, path: str, data=None, headers=None,
                 input_id: str | None = None, not_found: str | None = None) -> requests.Response:
        return self._call(action, subject, self._send, method, path, data, headers, True, input_id=input_id,
                          not_found=not_found)

    def _send(self, method: str, path: str, data, headers, raise_for_status: bool) -> requests.Response:
        request = requests.Request(method, urljoin(self.connection.url, path), data=data, headers=headers or {})
        if raise_for_status:
            # jenkins_request is python-jenkins's own: the same session, the same credentials, the same crumb.
            return self.server.jenkins_request(request)
        self.server._maybe_add_auth()
        self.server.maybe_add_crumb(request)
        return self.server._request(request)

    def _call(self, action: str, subject: str, function: Callable, *args, input_id: str | None = None,
              not_found: str | None = None):
        for attempt in (1, 2):
            try:
                return function(*args)
            except (jenkins.JenkinsException, requests.RequestException, ValueError) as error:
                failure = self._failure(error, action, subject, input_id, not_found)
            # A crumb lives as long as Jenkins's session; one issued before a restart is refused. Ask for a new one.
            if failure.bad_crumb and attempt == 1:
                self.server.crumb = None
                continue
            raise failure

    def _failure(self, error: BaseException, action: str, subject: str, input_id: str | None,
                 not_found: str | None) -> JenkinsFailure:
        secrets = (self.connection.token,)
        # python-jenkins re-raises HTTP errors as its own exceptions; the HTTP answer is further down the chain.
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, requests.HTTPError) and cause.response is not None:
                response = cause.response
                body = redact(response.text, secrets)
                # hudson.model.Failure puts its message in X-Error (AbstractModelObject/error.jelly).
                refusal = redact(response.headers.get("X-Error", ""), secrets).strip() or None
                detail = refusal or _one_line(body) or response.reason or "no detail"
                return JenkinsFailure(action, subject, response.status_code, detail, input_id=input_id,
                                      bad_crumb=response.status_code == 403 and "crumb" in body.lower(),
                                      refusal=refusal, not_found=not_found)
            if isinstance(cause, (requests.ConnectionError, requests.Timeout, jenkins.TimeoutException)):
                return JenkinsFailure(action, subject, None, _network_reason(redact(str(cause), secrets)),
                                      reached=False, input_id=input_id)
            cause = cause.__cause__ or cause.__context__
        if isinstance(error, jenkins.NotFoundException):
            return JenkinsFailure(action, subject, 404, str(error), input_id=input_id, not_found=not_found)
        return JenkinsFailure(action, subject, None, _one_line(redact(str(error), secrets)), input_id=input_id)


def _network_reason(text: str) -> str:
    """The cause inside urllib3's long "Max retries exceeded ... (Caused by ...)" text."""
    certificate = re.search(r"certificate verify failed: ([^('\"]+)", text)
    if certificate:
        return (f"its TLS certificate was not accepted ({certificate.group(1).strip()}): trust its CA with "
                f"REQUESTS_CA_BUNDLE=<file>, or pass --insecure")
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    return "timed out" if "timed out" in text.lower() else _one_line(text)


def _one_line(text: str, limit: int = 200) -> str:
    """The readable part of an error answer: an HTML page's title, or the first non-empty line."""
    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"
