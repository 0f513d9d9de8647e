"""A stand-in for Jenkins's REST API, for the calls `ci jenkins` makes and no others (Jenkins cannot run here).

It follows Jenkins's documented behaviour for:
- basic authentication with a user's API token: 401 without credentials or with a wrong token;
- the crumb issuer (/crumbIssuer/api/json) and a valid crumb required on every POST, else 403 "No valid crumb";
- the X-Jenkins version header on every answer (python-jenkins reads it for the version);
- job configuration: POST /createItem?name=, GET and POST /job/<name>/config.xml, stored the way Jenkins stores
  it (XML 1.1 declaration, plugin="name@version" attributes), and /job/<name>/api/json;
- POST /job/<name>/build and buildWithParameters: 201 with Location: <url>/queue/item/<id>/;
- /queue/item/<id>/api/json: waiting (`why`) for a moment, then `executable: {number, url}`, or `cancelled: true`;
- /job/<name>/<n>/api/json (building, result, duration, timestamp, artifacts) and consoleText;
- /job/<name>/<n>/logText/progressiveText?start=N: the console from byte N, X-Text-Size (where to ask next) and
  X-More-Data: true while the build runs;
- the Pipeline Stage View plugin's /job/<name>/<n>/wfapi/pendingInputActions;
- the input step's POST /job/<name>/<n>/input/<id>/proceedEmpty and /abort: 403 "You need to be ..." for a user
  outside the step's submitters, 404 for an input that is not pending.

A build is a script of console steps and input steps. It moves one step per `step_seconds`, and one more on every
progressiveText request, so a client that follows the console sees it arrive in pieces. Stricter than Jenkins in
one point: current Jenkins exempts requests authenticated with an API token from the crumb check (it asks only
browser sessions and passwords); the stand-in always asks, so that the client's crumb handling is exercised.
"""

import base64
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

JENKINS_VERSION = "2.462.3"
CRUMB_FIELD = "Jenkins-Crumb"
QUEUE_SECONDS = 0.15
STEP_SECONDS = 0.1


@dataclass(frozen=True)
class Input:
    id: str
    message: str
    ok: str = "Proceed"
    # Users or groups, comma-separated, as the input step's `submitter`.
    submitter: str = "release-managers"


@dataclass
class BuildScript:
    steps: list = field(default_factory=lambda: ["Started by user\n", "[Pipeline] stage (Lint)\n",
                                                 "[Pipeline] stage (Unit)\n"])
    result: str = "SUCCESS"
    artifacts: tuple = ()
    cancelled_in_queue: bool = False


@dataclass
class Build:
    job: str
    number: int
    url: str
    script: BuildScript
    parameters: dict
    step_seconds: float
    started: float = field(default_factory=time.time)
    stepped_at: float = field(default_factory=time.monotonic)
    position: int = 0
    text: str = ""
    waiting: Input | None = None
    result: str | None = None
    duration_ms: int = 0

    @property
    def building(self) -> bool:
        return self.result is None

    def advance(self, console_request: bool) -> None:
        now = time.monotonic()
        if console_request:
            self._step(now)
        while self.building and self.waiting is None and now - self.stepped_at >= self.step_seconds:
            self._step(self.stepped_at + self.step_seconds)

    def settle(self, user: str, approve: bool) -> None:
        self.waiting = None
        self.stepped_at = time.monotonic()
        if approve:
            self.text += f"Approved by {user}\n"
            if self.position == len(self.script.steps):
                self._finish(self.script.result)
        else:
            self.text += f"Rejected by {user}\n"
            self._finish("ABORTED")

    def _step(self, at: float) -> None:
        if not self.building or self.waiting is not None:
            return
        self.stepped_at = at
        if self.position < len(self.script.steps):
            step = self.script.steps[self.position]
            self.position += 1
            if isinstance(step, Input):
                self.waiting = step
                self.text += f"[Pipeline] input\n{step.message}\n{step.ok} or Abort\n"
                return
            self.text += step
        if self.position == len(self.script.steps):
            self._finish(self.script.result)

    def _finish(self, result: str) -> None:
        self.text += f"Finished: {result}\n"
        self.result = result
        self.duration_ms = int((time.time() - self.started) * 1000)

    def as_json(self) -> dict:
        return {
            "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": self.number, "url": self.url,
            "fullDisplayName": f"{self.job} #{self.number}", "building": self.building, "result": self.result,
            "duration": self.duration_ms, "timestamp": int(self.started * 1000),
            "artifacts": [{"displayPath": path.rsplit("/", 1)[-1], "fileName": path.rsplit("/", 1)[-1],
                           "relativePath": path} for path in self.script.artifacts],
            "actions": [{"_class": "hudson.model.ParametersAction",
                         "parameters": [{"name": name, "value": value} for name, value in self.parameters.items()]}],
        }


@dataclass
class QueueItem:
    id: int
    job: str
    script: BuildScript
    parameters: dict
    queued_at: float = field(default_factory=time.monotonic)
    build: Build | None = None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    user: str | None
    crumb: str | None


class JenkinsStandIn:
    def __init__(self, users: dict[str, str], groups: dict[str, set[str]], step_seconds: float = STEP_SECONDS,
                 certificate: tuple[str, str] | None = None):
        self.users, self.groups, self.step_seconds = users, groups, step_seconds
        self.lock = threading.Lock()
        self.jobs: dict[str, str] = {}
        self.builds: dict[str, list[Build]] = {}
        self.queue: dict[int, QueueItem] = {}
        self.scripts: dict[str, list[BuildScript]] = {}
        self.crumbs: dict[str, str] = {}
        self.requests: list[RequestRecord] = []
        # (start, bytes sent, X-More-Data) of every progressiveText answer, to show the console came in pieces.
        self.console_answers: list[tuple[int, int, bool]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        scheme = "http"
        if certificate:
            # HTTPS with the given (certificate file, key file), as a Jenkins behind TLS.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> "JenkinsStandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # --- what a test arranges and inspects ---------------------------------------------------------------------

    def add_job(self, name: str, config_xml: str = "<flow-definition/>") -> None:
        with self.lock:
            self.jobs[name] = _as_jenkins_stores_it(config_xml)
            self.builds.setdefault(name, [])

    def script_next_builds(self, job: str, *scripts: BuildScript) -> None:
        with self.lock:
            self.scripts.setdefault(job, []).extend(scripts)

    def build(self, job: str, number: int) -> Build:
        with self.lock:
            return self.builds[job][number - 1]

    def wait_for_input(self, job: str, number: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                self._tick()
                builds = self.builds.get(job, [])
                if len(builds) >= number and builds[number - 1].waiting:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"build #{number} of {job} did not reach an input within {timeout}s")

    def start_build_now(self, job: str, script: BuildScript) -> Build:
        with self.lock:
            return self._new_build(job, script, {})

    def rotate_crumbs(self) -> None:
        """As a Jenkins restart does: every crumb issued so far is refused from now on."""
        with self.lock:
            self.crumbs.clear()

    # --- Jenkins's behaviour -------------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        for item in self.queue.values():
            if item.build is None and not item.script.cancelled_in_queue and now - item.queued_at >= QUEUE_SECONDS:
                item.build = self._new_build(item.job, item.script, item.parameters)
        for builds in self.builds.values():
            for build in builds:
                build.advance(console_request=False)

    def _new_build(self, job: str, script: BuildScript, parameters: dict) -> Build:
        number = len(self.builds[job]) + 1
        build = Build(job, number, f"{self.url}job/{quote(job)}/{number}/", script, parameters, self.step_seconds)
        self.builds[job].append(build)
        return build

    def _allowed(self, user: str, submitter: str) -> bool:
        names = {name.strip() for name in submitter.split(",")}
        return user in names or any(user in self.groups.get(name, set()) for name in names)

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict, bytes]:
        user = _basic_user(headers.get("Authorization", ""), self.users)
        with self.lock:
            self.requests.append(RequestRecord(method, path, user, headers.get(CRUMB_FIELD)))
            if user is None:
                return 401, {"WWW-Authenticate": 'Basic realm="Jenkins"'}, b"Invalid password/token for user\n"
            crumb = headers.get(CRUMB_FIELD)
            if method == "POST" and (not crumb or crumb != self.crumbs.get(user)):
                return 403, {}, b"No valid crumb was included in the request\n"
            self._tick()
            return self._route(method, path, query, body, user)

    def _route(self, method: str, path: str, query: dict, body: bytes, user: str) -> tuple[int, dict, bytes]:
        if method == "GET" and path in ("/", "/api/json"):
            return _json({"_class": "hudson.model.Hudson", "mode": "NORMAL",
                          "jobs": [{"name": name, "url": f"{self.url}job/{quote(name)}/"} for name in self.jobs]})
        if method == "GET" and path == "/me/api/json":
            return _json({"_class": "hudson.model.User", "id": user, "fullName": user.title()})
        if method == "GET" and path == "/crumbIssuer/api/json":
            crumb = self.crumbs.setdefault(user, secrets.token_hex(16))
            return _json({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb,
                          "crumbRequestField": CRUMB_FIELD})
        if method == "POST" and path == "/createItem":
            name = query.get("name", "")
            if name in self.jobs:
                return 400, {}, f"A job already exists with the name '{name}'\n".encode()
            self.jobs[name] = _as_jenkins_stores_it(body.decode())
            self.builds.setdefault(name, [])
            return 200, {}, b""
        queue = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if method == "GET" and queue:
            return self._queue_item(int(queue.group(1)))
        job_match = re.fullmatch(r"/job/([^/]+)/(.*)", path)
        if not job_match or unquote(job_match.group(1)) not in self.jobs:
            return 404, {}, b"Not Found\n"
        job, rest = unquote(job_match.group(1)), job_match.group(2)
        if rest in ("api/json", "config.xml") and method == "GET":
            return (200, {"Content-Type": "application/xml"}, self.jobs[job].encode()) if rest == "config.xml" \
                else _json(self._job_json(job))
        if rest == "config.xml" and method == "POST":
            self.jobs[job] = _as_jenkins_stores_it(body.decode())
            return 200, {}, b""
        if rest in ("build", "buildWithParameters") and method == "POST":
            return self._queue_build(job, query if rest == "buildWithParameters" else {})
        build_match = re.fullmatch(r"(\d+)/(.*)", rest)
        builds = self.builds[job]
        if not build_match or not 1 <= int(build_match.group(1)) <= len(builds):
            return 404, {}, b"Not Found\n"
        return self._build_route(method, builds[int(build_match.group(1)) - 1], build_match.group(2), query, user)

    def _build_route(self, method: str, build: Build, rest: str, query: dict, user: str) -> tuple[int, dict, bytes]:
        if method == "GET" and rest == "api/json":
            return _json(build.as_json())
        if method == "GET" and rest == "consoleText":
            return 200, {"Content-Type": "text/plain;charset=UTF-8"}, build.text.encode()
        if method == "GET" and rest == "logText/progressiveText":
            build.advance(console_request=True)
            data, start = build.text.encode(), int(query.get("start", "0") or 0)
            headers = {"Content-Type": "text/plain;charset=UTF-8", "X-Text-Size": str(len(data))}
            if build.building:
                headers["X-More-Data"] = "true"
            self.console_answers.append((start, len(data[start:]), build.building))
            return 200, headers, data[start:]
        if method == "GET" and rest == "wfapi/pendingInputActions":
            step, base = build.waiting, urlsplit(build.url).path
            return _json([] if step is None else [{
                "id": step.id, "proceedText": step.ok, "message": step.message, "inputs": [],
                "proceedUrl": f"{base}wfapi/inputSubmit?inputId={step.id}", "abortUrl": f"{base}input/{step.id}/abort",
                "redirectApprovalUrl": f"{base}input/"}])
        settle = re.fullmatch(r"input/([^/]+)/(proceedEmpty|abort)", rest)
        if method == "POST" and settle:
            step = build.waiting
            if step is None or step.id != unquote(settle.group(1)):
                return 404, {}, b"Not Found\n"
            if not self._allowed(user, step.submitter):
                return 403, {}, f"You need to be '{step.submitter}' to submit this.\n".encode()
            build.settle(user, approve=settle.group(2) == "proceedEmpty")
            return 200, {}, b""
        return 404, {}, b"Not Found\n"

    def _queue_build(self, job: str, parameters: dict) -> tuple[int, dict, bytes]:
        scripted = self.scripts.get(job)
        script = scripted.pop(0) if scripted else BuildScript()
        item = QueueItem(len(self.queue) + 1, job, script, dict(parameters))
        self.queue[item.id] = item
        return 201, {"Location": f"{self.url}queue/item/{item.id}/"}, b""

    def _queue_item(self, queue_id: int) -> tuple[int, dict, bytes]:
        item = self.queue.get(queue_id)
        if item is None:
            return 404, {}, b"Not Found\n"
        task = {"name": item.job, "url": f"{self.url}job/{quote(item.job)}/"}
        if item.script.cancelled_in_queue and time.monotonic() - item.queued_at >= QUEUE_SECONDS:
            return _json({"_class": "hudson.model.Queue$LeftItem", "id": queue_id, "task": task, "cancelled": True,
                          "executable": None})
        if item.build is None:
            return _json({"_class": "hudson.model.Queue$WaitingItem", "id": queue_id, "task": task,
                          "why": "In the quiet period. Expires in 0.1 sec"})
        return _json({"_class": "hudson.model.Queue$LeftItem", "id": queue_id, "task": task, "cancelled": False,
                      "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                                     "number": item.build.number, "url": item.build.url}})

    def _job_json(self, job: str) -> dict:
        builds = [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": build.number,
                   "url": build.url} for build in reversed(self.builds[job])]
        return {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": job, "fullName": job,
                "url": f"{self.url}job/{quote(job)}/", "builds": builds,
                "firstBuild": builds[-1] if builds else None, "lastBuild": builds[0] if builds else None,
                "nextBuildNumber": len(builds) + 1,
                "inQueue": any(item.job == job and item.build is None for item in self.queue.values())}


def _handler_for(standin: JenkinsStandIn) -> type:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self._answer("GET")

        def do_POST(self):
            self._answer("POST")

        def _answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
            if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                query.update({name: values[-1] for name, values in parse_qs(body.decode()).items()})
            path = parts.path.rstrip("/") or "/"
            status, headers, payload = standin.handle(method, path, query, self.headers, body)
            self.send_response(status)
            self.send_header("X-Jenkins", JENKINS_VERSION)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format, *args):
            pass

    return Handler


def _basic_user(header: str, users: dict[str, str]) -> str | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None
    return user if users.get(user) == token else None


def _json(document) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(document).encode()


def _as_jenkins_stores_it(config_xml: str) -> str:
    """Jenkins re-serializes a posted config: its own XML declaration and the plugin versions on elements."""
    text = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", config_xml)
    text = text.replace("<flow-definition>", '<flow-definition plugin="workflow-job@1400.v7fd111b_ec82f">', 1)
    text = text.replace('class="hudson.plugins.git.GitSCM"', 'class="hudson.plugins.git.GitSCM" plugin="git@5.2.2"')
    return "<?xml version='1.1' encoding='UTF-8'?>\n" + text
