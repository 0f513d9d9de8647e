"""A stand-in for Jenkins's REST API, for the calls `ci jenkins` makes and no others (Jenkins cannot run here).

Each behaviour names the real source it mirrors; where Jenkins or plugin versions differ, the stand-in takes the
version (tests/jenkins_standin_state.py lists them) and the tests run each. The input step lives in
tests/jenkins_standin_input.py, what doctor reads in tests/jenkins_standin_doctor.py:
- basic authentication with a user's API token: 401 without credentials or with a wrong token;
- the crumb issuer (/crumbIssuer/api/json) and a valid crumb on every POST, else 403 "No valid crumb". Current
  Jenkins exempts API-token requests from the crumb check; the stand-in always asks, to exercise the client's
  crumb handling;
- X-Jenkins (the core version) on every answer (jenkinsci/jenkins: core/src/main/java/hudson/Functions.java and
  hudson/model/Api.java set it to Jenkins.VERSION);
- items: multibranch projects with branch and tag jobs (job/<project>/job/<NameEncoder.encode(branch)>/), plain
  Pipeline jobs, config.xml stored the way Jenkins re-saves it (as_jenkins_stores_it);
- build / buildWithParameters: 201 with Location: <jenkins>/queue/item/<id>/; buildWithParameters on a job that
  declares no parameters is 500 before core 2.524 and 400 "<job> is not parameterized" since
  (ParameterizedJobMixIn.doBuildWithParameters);
- queue items, build records, consoleText and logText/progressiveText (X-Text-Size, X-More-Data);
- the input step: its InputAction in the build's api/json, POST input/<id>/proceed (a `json` form field is
  required, as Stapler's RequestImpl.getSubmittedForm), proceedEmpty and abort; refusals are hudson.model.Failure:
  400 with the message in X-Error (core/src/main/resources/hudson/model/AbstractModelObject/error.jelly);
- no Pipeline Stage View: wfapi/* is 404, as on a Jenkins without pipeline-stage-view;
- what `ci jenkins doctor` reads: pluginManager/api/json (Overall/SystemRead), computer/api/json, the credentials
  plugin's credentials/api/json at the root and on the project, /git/notifyCommit with its token, /scriptText
  (Overall/Administer).

A build is a script of console steps and input steps. It moves one step per `step_seconds`, and one more on every
console request, so that a follower sees the text arrive in pieces while the build runs.
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

from ci.jenkins.job_xml import TAG_DISCOVERY
from tests.jenkins_standin_doctor import DoctorPages, Facts, failure_page
from tests.jenkins_standin_input import InputPages
from tests.jenkins_standin_state import (INPUT_STEP_FIXED, JENKINS_BEFORE_2_524, MULTIBRANCH_CLASS,  # noqa: F401
                                         PIPELINE_JOB_CLASS, Build, BuildScript, Input, Item, as_jenkins_stores_it,
                                         core_at_least, plugin_release)

CRUMB_FIELD = "Jenkins-Crumb"
QUEUE_SECONDS = 0.15
STEP_SECONDS = 0.1


@dataclass
class QueueItem:
    id: int
    job: tuple
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
    form: dict = field(default_factory=dict)


class JenkinsStandIn(InputPages, DoctorPages):
    def __init__(self, users: dict[str, str], groups: dict[str, set[str]], step_seconds: float = STEP_SECONDS,
                 certificate: tuple[str, str] | None = None, jenkins_version: str = JENKINS_BEFORE_2_524,
                 input_step_version: str = INPUT_STEP_FIXED, admins: set[str] = frozenset(),
                 cancellers: set[str] = frozenset()):
        self.users, self.groups, self.step_seconds = users, groups, step_seconds
        self.jenkins_version, self.input_step_version = jenkins_version, input_step_version
        # Overall/Administer, and Job/Cancel on every job.
        self.admins, self.cancellers = set(admins), set(cancellers)
        self.facts = Facts()
        self.lock = threading.Lock()
        self.items: dict[tuple, Item] = {}
        self.queue: dict[int, QueueItem] = {}
        self.scripts: dict[tuple, list[BuildScript]] = {}
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

    def config(self, name: str) -> str:
        return self.items[(name,)].config_xml

    def set_config(self, name: str, config_xml: str) -> None:
        with self.lock:
            self.items[(name,)].config_xml = config_xml

    def add_job(self, name: str, config_xml: str = "<flow-definition/>") -> None:
        """A plain Pipeline job (or any top-level item whose config.xml is given)."""
        with self.lock:
            self._create((name,), config_xml)

    def add_branch(self, project: str, branch: str, parameters: list[str] | None = None, tag: bool = False) -> tuple:
        """A branch or tag job, as a scan of the project's source makes it (named as branch-api's NameEncoder)."""
        from ci.jenkins.paths import branch_item_name
        with self.lock:
            if (project,) not in self.items:
                # A project as sync-job makes it: a git source that discovers branches and tags.
                self.items[(project,)] = Item("multibranch", f"<{MULTIBRANCH_CLASS}><sources><data><source><traits>"
                                                             f"<{TAG_DISCOVERY} /></traits></source></data></sources>"
                                                             f"</{MULTIBRANCH_CLASS}>")
            key = (project, branch_item_name(branch))
            self.items[key] = Item("branch", parameters=parameters, tag=tag)
            return key

    def script_next_builds(self, job: tuple, *scripts: BuildScript) -> None:
        with self.lock:
            self.scripts.setdefault(job, []).extend(scripts)

    def build(self, job: tuple, number: int) -> Build:
        with self.lock:
            return self.items[job].builds[number - 1]

    def wait_for_input(self, job: tuple, number: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                self._tick()
                builds = self.items[job].builds
                if len(builds) >= number and builds[number - 1].waiting:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"build #{number} of {job} did not reach an input within {timeout}s")

    def start_build_now(self, job: tuple, script: BuildScript) -> Build:
        with self.lock:
            return self._new_build(job, script, {})

    def rotate_crumbs(self) -> None:
        """As a Jenkins restart does: every crumb issued so far is refused from now on."""
        with self.lock:
            self.crumbs.clear()

    # --- Jenkins's behaviour -------------------------------------------------------------------------------------

    def _create(self, key: tuple, config_xml: str) -> None:
        stored = as_jenkins_stores_it(config_xml)
        kind = "multibranch" if f"<{MULTIBRANCH_CLASS}" in stored else "pipeline"
        self.items[key] = Item(kind, stored)

    def _tick(self) -> None:
        now = time.monotonic()
        for item in self.queue.values():
            if item.build is None and not item.script.cancelled_in_queue and now - item.queued_at >= QUEUE_SECONDS:
                item.build = self._new_build(item.job, item.script, item.parameters)
        for job in self.items.values():
            for build in job.builds:
                build.advance(console_request=False)

    def _new_build(self, job: tuple, script: BuildScript, parameters: dict) -> Build:
        builds = self.items[job].builds
        build = Build(job, len(builds) + 1, f"{self._job_url(job)}{len(builds) + 1}/", script, parameters,
                      self.step_seconds)
        builds.append(build)
        return build

    def _job_url(self, job: tuple) -> str:
        return self.url + "".join(f"job/{quote(name, safe='')}/" for name in job)

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict, bytes]:
        user = _basic_user(headers.get("Authorization", ""), self.users)
        with self.lock:
            self.requests.append(RequestRecord(method, path, user, headers.get(CRUMB_FIELD), dict(query)))
            if path == "/git/notifyCommit":
                # An UnprotectedRootAction: no login needed, the token is the protection.
                return self._notify_commit(query)
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
                          "jobs": [{"name": key[0], "url": self._job_url(key)} for key in self.items if len(key) == 1]})
        if method == "GET" and path == "/me/api/json":
            return _json({"_class": "hudson.model.User", "id": user, "fullName": user.title()})
        if method == "GET" and path == "/crumbIssuer/api/json":
            crumb = self.crumbs.setdefault(user, secrets.token_hex(16))
            return _json({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb,
                          "crumbRequestField": CRUMB_FIELD})
        if method == "POST" and path == "/createItem":
            name = query.get("name", "")
            if (name,) in self.items:
                # ItemGroupMixIn.createTopLevelItem: a Failure (Messages.Hudson_JobAlreadyExists).
                return failure_page(f"A job already exists with the name '{name}'")
            self._create((name,), body.decode())
            return 200, {}, b""
        queue = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
        if method == "GET" and queue:
            return self._queue_item(int(queue.group(1)))
        doctor = self._doctor_route(method, path, query, user)
        if doctor is not None:
            return doctor
        names, rest = _job_names(path)
        if not names or tuple(names) not in self.items:
            return 404, {}, b"Not Found\n"
        return self._job_route(method, tuple(names), rest, query, body, user)

    def _job_route(self, method: str, key: tuple, rest: str, query: dict, body: bytes,
                   user: str) -> tuple[int, dict, bytes]:
        item = self.items[key]
        if rest == "api/json" and method == "GET":
            return _json(self._job_json(key))
        if rest == "config.xml" and method == "GET":
            return 200, {"Content-Type": "application/xml"}, item.config_xml.encode()
        if rest == "config.xml" and method == "POST":
            item.config_xml = as_jenkins_stores_it(body.decode())
            return 200, {}, b""
        if rest in ("build", "buildWithParameters") and method == "POST" and item.kind != "multibranch":
            return self._queue_build(key, item, rest == "buildWithParameters", query)
        if rest == "view/tags/api/json" and method == "GET" and item.kind == "multibranch":
            # MultiBranchProjectViewHolder.getViews: only the welcome view while the project has no (visible) items;
            # else ensureViews makes one view per SCMHeadCategory of the sources, named as it (scm-api
            # TagSCMHeadCategory is "tags"), and a git source has the tags category only with TagDiscoveryTrait
            # (jenkinsci/branch-api-plugin: src/main/java/jenkins/branch/MultiBranchProjectViewHolder.java;
            # scm-api SCMSource.getCategories; git-plugin AbstractGitSCMSource.isCategoryEnabled,
            # traits/TagDiscoveryTrait.java includeCategory). The view lists the tag jobs, none at first.
            children = [child for child in self.items if child[:-1] == key]
            if not children or TAG_DISCOVERY not in item.config_xml:
                return 404, {}, b"Not Found\n"
            return _json({"_class": "jenkins.branch.MultiBranchProjectViewHolder$ViewImpl", "jobs": [
                {"_class": PIPELINE_JOB_CLASS, "name": child[-1]} for child in children if self.items[child].tag]})
        if rest == "credentials/api/json" and method == "GET":
            return self._credentials(key[0] if len(key) == 1 else None)
        build_match = re.fullmatch(r"(\d+)/(.*)", rest)
        if not build_match or not 1 <= int(build_match.group(1)) <= len(item.builds):
            return 404, {}, b"Not Found\n"
        return self._build_route(method, item.builds[int(build_match.group(1)) - 1], build_match.group(2), query,
                                 user)

    def _build_route(self, method: str, build: Build, rest: str, query: dict, user: str) -> tuple[int, dict, bytes]:
        if method == "GET" and rest == "api/json":
            return _json(build.as_json(self.input_step_version))
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
        settle = re.fullmatch(r"input/([^/]+)/(proceed|proceedEmpty|abort)", rest)
        if method == "POST" and settle:
            return self._settle(build, unquote(settle.group(1)), settle.group(2), query, user)
        # wfapi/* belongs to pipeline-stage-view (pipeline-rest-api), which this Jenkins does not have.
        return 404, {}, b"Not Found\n"

    def _queue_build(self, key: tuple, item: Item, with_parameters: bool, query: dict) -> tuple[int, dict, bytes]:
        if with_parameters and item.parameters is None:
            name = "/".join(unquote(part) for part in key)
            if core_at_least(self.jenkins_version, "2.524"):
                page = f"<html><body>{name} is not parameterized</body></html>"
                return 400, {"Content-Type": "text/html"}, page.encode()
            return 500, {"Content-Type": "text/html"}, (b"<html><head><title>Jenkins [Jenkins]</title></head><body>"
                                                        b"java.lang.IllegalStateException: This build is not "
                                                        b"parameterized!</body></html>")
        scripted = self.scripts.get(key)
        script = scripted.pop(0) if scripted else BuildScript()
        # ParametersDefinitionProperty.buildWithParameters takes the values of the declared parameters only.
        parameters = {name: value for name, value in query.items() if name in (item.parameters or [])}
        queued = QueueItem(len(self.queue) + 1, key, script, parameters)
        self.queue[queued.id] = queued
        return 201, {"Location": f"{self.url}queue/item/{queued.id}/"}, b""

    def _queue_item(self, queue_id: int) -> tuple[int, dict, bytes]:
        item = self.queue.get(queue_id)
        if item is None:
            return 404, {}, b"Not Found\n"
        task = {"name": item.job[-1], "url": self._job_url(item.job)}
        if item.script.cancelled_in_queue and time.monotonic() - item.queued_at >= QUEUE_SECONDS:
            return _json({"_class": "hudson.model.Queue$LeftItem", "id": queue_id, "task": task, "cancelled": True,
                          "executable": None})
        if item.build is None:
            return _json({"_class": "hudson.model.Queue$WaitingItem", "id": queue_id, "task": task,
                          "why": "In the quiet period. Expires in 0.1 sec"})
        return _json({"_class": "hudson.model.Queue$LeftItem", "id": queue_id, "task": task, "cancelled": False,
                      "executable": {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                                     "number": item.build.number, "url": item.build.url}})

    def _job_json(self, key: tuple) -> dict:
        item, url = self.items[key], self._job_url(key)
        if item.kind == "multibranch":
            children = [{"_class": PIPELINE_JOB_CLASS, "name": child[-1], "url": self._job_url(child)}
                        for child in self.items if len(child) == len(key) + 1 and child[:len(key)] == key]
            return {"_class": MULTIBRANCH_CLASS, "name": key[-1], "url": url, "jobs": children}
        builds = [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun", "number": build.number,
                   "url": build.url} for build in reversed(item.builds)]
        properties = [] if item.parameters is None else [{
            "_class": "hudson.model.ParametersDefinitionProperty",
            "parameterDefinitions": [{"_class": "hudson.model.StringParameterDefinition", "name": name,
                                      "type": "StringParameterDefinition"} for name in item.parameters]}]
        return {"_class": PIPELINE_JOB_CLASS, "name": key[-1], "url": url, "builds": builds, "property": properties,
                "firstBuild": builds[-1] if builds else None, "lastBuild": builds[0] if builds else None,
                "nextBuildNumber": len(builds) + 1,
                "inQueue": any(queued.job == key and queued.build is None for queued in self.queue.values())}


def _job_names(path: str) -> tuple[list[str], str]:
    """/job/a/job/b/rest: the item names (URL-decoded once) and the rest of the path."""
    parts, names = path.strip("/").split("/"), []
    while len(parts) >= 2 and parts[0] == "job":
        names.append(unquote(parts[1]))
        parts = parts[2:]
    return names, "/".join(parts)


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
            self.send_header("X-Jenkins", standin.jenkins_version)
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
