"""The Jenkins session: python-jenkins where it has a call, plain requests through its session (auth, crumb) else."""

import codecs
import re
import time
from collections.abc import Callable
from urllib.parse import urljoin

import jenkins
import requests
import urllib3

from ci.jenkins_requests import (ConsoleChunk, JenkinsConnection, JenkinsFailure, console_chunk, input_submit_path,
                                 pending_inputs_path, progressive_text_path)
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

    # --- python-jenkins calls ---------------------------------------------------------------------------------

    def identity(self) -> tuple[str, str]:
        """Who Jenkins takes us for, and its version (the X-Jenkins header): the first call proves the token."""
        me = self._call("read", "/me (the credentials' user)", self.server.get_whoami)
        version = self._call("read", "its version", self.server.get_version)
        return me.get("id", self.connection.user), version

    def job_config(self, job_name: str) -> str | None:
        """The job's config.xml, or None when there is no such job."""
        try:
            return self._call("read the configuration of", f"job {job_name}", self.server.get_job_config, job_name)
        except JenkinsFailure as failure:
            if failure.status == 404:
                return None
            raise

    def create_job(self, job_name: str, config_xml: str) -> None:
        self._call("create", f"job {job_name}", self.server.create_job, job_name, config_xml)

    def update_job(self, job_name: str, config_xml: str) -> None:
        self._call("update", f"job {job_name}", self.server.reconfig_job, job_name, config_xml)

    def queue_build(self, job_name: str, parameters: dict[str, str]) -> int:
        """Build (buildWithParameters when there are parameters); the queue item's id, from the Location header."""
        return self._call("start", f"job {job_name}", self.server.build_job, job_name, parameters or None)

    def queue_item(self, queue_id: int) -> dict:
        return self._call("read", f"queue item {queue_id}", self.server.get_queue_item, queue_id)

    def job_info(self, job_name: str) -> dict:
        return self._call("read", f"job {job_name}", self.server.get_job_info, job_name)

    def build_info(self, job_name: str, number: int) -> dict:
        return self._call("read", f"build #{number} of {job_name}", self.server.get_build_info, job_name, number)

    def console_text(self, job_name: str, number: int) -> str:
        return self._call("read the console of", f"build #{number} of {job_name}",
                          self.server.get_build_console_output, job_name, number)

    # --- plain requests, for what python-jenkins has no call for ----------------------------------------------

    def console_chunk(self, job_name: str, number: int, start: int) -> ConsoleChunk:
        response = self._request("read the console of", f"build #{number} of {job_name}", "GET",
                                 progressive_text_path(job_name, number, start))
        return console_chunk(response.content, response.headers, start)

    def pending_input_actions(self, job_name: str, number: int) -> list[dict]:
        response = self._request("read the pending inputs of", f"build #{number} of {job_name}", "GET",
                                 pending_inputs_path(job_name, number))
        return self._json(response, "read the pending inputs of", f"build #{number} of {job_name}")

    def submit_input(self, job_name: str, number: int, input_id: str, approve: bool) -> None:
        """Answer an input step as JENKINS_USER: Jenkins checks that user against the step's submitters."""
        self._request("approve" if approve else "reject", f"input {input_id} of build #{number} of {job_name}",
                      "POST", input_submit_path(job_name, number, input_id, approve), input_id=input_id)

    def follow_console(self, job_name: str, number: int, write: Callable[[str], None], poll_seconds: float,
                       deadline: float) -> bool:
        """Write the console as it grows until the build stops writing (True) or the deadline passes (False)."""
        # Text arrives in byte ranges that may split a UTF-8 character; the decoder keeps the half for the next one.
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        start = 0
        while True:
            chunk = self.console_chunk(job_name, number, start)
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

    # --- one error type for everything ------------------------------------------------------------------------

    def _request(self, action: str, subject: str, method: str, path: str, input_id: str | None = None
                 ) -> requests.Response:
        def send() -> requests.Response:
            # jenkins_request is python-jenkins's own: the same session, the same credentials, the same crumb.
            return self.server.jenkins_request(requests.Request(method, urljoin(self.connection.url, path)))
        return self._call(action, subject, send, input_id=input_id)

    def _json(self, response: requests.Response, action: str, subject: str):
        try:
            return response.json()
        except ValueError:
            raise JenkinsFailure(action, subject, response.status_code, "the answer is not JSON") from None

    def _call(self, action: str, subject: str, function: Callable, *args, input_id: str | None = None):
        for attempt in (1, 2):
            try:
                return function(*args)
            except (jenkins.JenkinsException, requests.RequestException, ValueError) as error:
                failure = self._failure(error, action, subject, input_id)
            # A crumb lives as long as Jenkins's session; one issued before a restart is refused. Ask for a new one.
            if failure.bad_crumb and attempt == 1:
                self.server.crumb = None
                continue
            raise failure

    def _failure(self, error: BaseException, action: str, subject: str, input_id: str | None) -> JenkinsFailure:
        secrets = (self.connection.token,)
        # python-jenkins re-raises HTTP errors as its own exceptions; the HTTP answer is further down the chain.
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, requests.HTTPError) and cause.response is not None:
                response = cause.response
                body = redact(response.text, secrets)
                # The input step's refusal ("You need to be '<submitter>' ...") sits in the body of an error page.
                refusal = re.search(r"You need to be [^<\n]*", body)
                detail = refusal.group(0).strip() if refusal else _one_line(body) or response.reason or "no detail"
                return JenkinsFailure(action, subject, response.status_code, detail, input_id=input_id,
                                      bad_crumb=response.status_code == 403 and "crumb" in body.lower())
            if isinstance(cause, (requests.ConnectionError, requests.Timeout, jenkins.TimeoutException)):
                return JenkinsFailure(action, subject, None, _network_reason(redact(str(cause), secrets)),
                                      reached=False, input_id=input_id)
            cause = cause.__cause__ or cause.__context__
        if isinstance(error, jenkins.NotFoundException):
            return JenkinsFailure(action, subject, 404, str(error), input_id=input_id)
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
