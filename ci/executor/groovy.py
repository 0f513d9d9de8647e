"""Run the offline Jenkinsfile checks with the machine's Groovy and Java: one script at a time, or many in one JVM."""

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO

from ci.errors import CannotRun
from ci.executor.process import capture

SERVE_SCRIPT = Path(__file__).resolve().parents[1] / "jenkinsfile" / "serve.groovy"
CHECK_MODES = ("syntax", "structure", "model-json")


def java_home() -> str | None:
    """The JDK behind `java` on PATH: Debian's groovy launcher needs JAVA_HOME and guesses it wrongly."""
    java = shutil.which("java")
    return str(Path(java).resolve().parent.parent) if java else None


def _groovy_environment() -> dict[str, str]:
    home = java_home()
    if not shutil.which("groovy") or not home:
        raise CannotRun("groovy (with a Java runtime) is not installed: `python -m ci setup` installs it")
    return {**os.environ, "JAVA_HOME": home}


def run_groovy(script: Path, *args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return capture(["groovy", str(script), *args], cwd=cwd, timeout=timeout, env=_groovy_environment())


class JenkinsfileChecks:
    """Many Jenkinsfile checks in one JVM (ci/jenkinsfile/serve.groovy), started by the first check: a JVM takes
    seconds to start, a check a fraction of one. Each answer is what a run of syntax.groovy or structure.groovy
    (with --model-json for "model-json") on that file would have given. One check at a time; close() ends it."""

    def __init__(self, cwd: Path | None = None, timeout: float = 120) -> None:
        self._cwd = cwd
        self._timeout = timeout
        self._process: subprocess.Popen | None = None
        self._errors: IO[bytes] | None = None
        self._answers: queue.Queue[str | None] = queue.Queue()

    def check(self, path: Path | str, mode: str) -> subprocess.CompletedProcess:
        if mode not in CHECK_MODES:
            raise ValueError(f"unknown Jenkinsfile check '{mode}' ({', '.join(CHECK_MODES)})")
        process = self._started()
        try:
            process.stdin.write(json.dumps({"path": str(path), "mode": mode}) + "\n")
            process.stdin.flush()
        except BrokenPipeError:
            raise CannotRun(f"the Jenkinsfile checker has ended: {self._error_output()}") from None
        try:
            line = self._answers.get(timeout=self._timeout)
        except queue.Empty:
            process.kill()  # a check that hangs would not read the end of its input either
            self.close()
            raise CannotRun(f"the Jenkinsfile checker did not answer for {path} within {self._timeout:.0f}s") from None
        if line is None:
            raise CannotRun(f"the Jenkinsfile checker ended before answering for {path}: {self._error_output()}")
        answer = json.loads(line)
        return subprocess.CompletedProcess([str(SERVE_SCRIPT), mode, str(path)], answer["returncode"],
                                           answer["stdout"], answer["stderr"])

    def close(self) -> None:
        if self._process is not None:
            try:
                self._process.stdin.close()
            except BrokenPipeError:  # it has ended already
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._errors is not None:
            self._errors.close()
            self._errors = None

    def __enter__(self) -> "JenkinsfileChecks":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _started(self) -> subprocess.Popen:
        if self._process is not None:
            return self._process
        environment = _groovy_environment()
        # A file, not a pipe: nobody reads the JVM's own stderr while it runs, so a pipe could fill and stall it.
        self._errors = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(["groovy", str(SERVE_SCRIPT)], cwd=self._cwd, env=environment,
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors,
                                             text=True, bufsize=1)
        except FileNotFoundError:
            self.close()
            raise CannotRun("'groovy' is not installed or not on PATH") from None
        # A queue per JVM, so that a JVM closed at a timeout cannot hand its late answer to the next one.
        self._answers = queue.Queue()
        threading.Thread(target=_read_answers, args=(self._process.stdout, self._answers), daemon=True).start()
        return self._process

    def _error_output(self) -> str:
        if self._errors is None:
            return "no output"
        self._errors.seek(0)
        return self._errors.read().decode(errors="replace").strip()[-2000:] or "no output"


def _read_answers(stdout: IO[str], answers: "queue.Queue[str | None]") -> None:
    # A thread, so that check() can wait for an answer with a timeout; None says the JVM has ended.
    for line in stdout:
        answers.put(line)
    answers.put(None)
