"""`python -m ci jenkins doctor` against the stand-in: all checks passing, then each check failing on its own."""

import pytest

from ci.jenkins.doctor import agent_labels, credential_bindings
from ci.jenkins.step_plugins import required_plugins
from tests.unit.ci.test_jenkins_client import JOB, REPOSITORY_ROOT, SCM_URL, TOKENS, ci  # noqa: F401
from tests.jenkins_standin import JenkinsStandIn
from tests.jenkins_standin_state import INPUT_STEP_FIXED, INPUT_STEP_NO_EXPORT, JENKINS_SINCE_2_524

JENKINSFILE = (REPOSITORY_ROOT / "Jenkinsfile").read_text()
NOTIFY_TOKEN = "notify-commit-token-1f2e3d"


@pytest.fixture
def standin(request):
    """A Jenkins ready for the first build: every plugin, the job, the credentials, a docker agent, a token."""
    server = JenkinsStandIn(TOKENS, {"release-managers": {"alice"}}, jenkins_version=JENKINS_SINCE_2_524,
                            admins={"root"}).start()
    request.addfinalizer(server.stop)
    server.facts.plugins = {name: ("999.v1", True) for name in required_plugins(JENKINSFILE)}
    server.facts.plugins["pipeline-input-step"] = (INPUT_STEP_FIXED, True)
    server.facts.credentials = {"": list(credential_bindings(JENKINSFILE))}
    server.facts.credential_types = {"model-registry": "Username with password",
                                     "deploy-ssh-key": "SSH Username with private key",
                                     "deploy-known-hosts": "Secret file"}
    server.facts.computers = [("built-in", True, (), 0), ("agent-1", True, ("docker",), 2)]
    server.facts.notify_tokens = {NOTIFY_TOKEN}
    return server


@pytest.fixture
def doctor(ci, standin, monkeypatch):  # noqa: F811 (the imported fixture)
    monkeypatch.setenv("JENKINS_NOTIFY_COMMIT_TOKEN", NOTIFY_TOKEN)
    assert ci("sync-job", user="root").exit_code == 0

    def run(user: str = "root"):
        return ci("doctor", user=user)
    return run


def lines(run) -> dict[str, str]:
    return {line.split(":", 1)[0][5:]: line for line in run.err.splitlines() if line.startswith(("ok   ", "FAIL "))}


def test_what_doctor_reads_from_the_jenkinsfile():
    assert credential_bindings(JENKINSFILE) == {"model-registry": "usernamePassword",
                                                "deploy-ssh-key": "sshUserPrivateKey", "deploy-known-hosts": "file"}
    assert agent_labels(JENKINSFILE) == ["docker"]
    needed = required_plugins(JENKINSFILE)
    for plugin in ("pipeline-model-definition", "pipeline-input-step", "pipeline-milestone-step", "lockable-resources",
                   "credentials-binding", "junit", "workflow-multibranch", "git", "basic-branch-build-strategies"):
        assert plugin in needed
    assert "pipeline-stage-view" not in needed


def test_a_jenkins_ready_for_the_first_build_passes_every_check(doctor):
    run = doctor()
    assert run.exit_code == 0, run.err
    found = lines(run)
    assert list(found) == ["Jenkins version", "plugins", "input step REST data", "Stage View", "job type",
                           "git source", "branch and tag discovery", "tag build strategy", "credentials", "agent",
                           "release managers", "webhook token"]
    assert all(line.startswith("ok") for line in found.values())
    assert found["git source"].endswith(f"{SCM_URL} with credentials (none)")
    assert "all 12 checks passed" in run.summary


def unplug(plugin):
    return lambda standin: standin.facts.plugins.pop(plugin)


def no_tag_discovery(standin):
    standin.set_config(JOB, standin.config(JOB).replace("<jenkins.plugins.git.traits.TagDiscoveryTrait />", ""))


def no_tag_strategy(standin):
    config = standin.config(JOB)
    start = config.index("<jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl")
    end = config.index("</jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl>") + len(
        "</jenkins.branch.buildstrategies.basic.TagBuildStrategyImpl>")
    standin.set_config(JOB, config[:start] + config[end:])


def plain_job(standin):
    standin.items.pop((JOB,))
    standin.add_job(JOB, "<flow-definition><definition/></flow-definition>")


@pytest.mark.parametrize("name, breaks, expected", [
    ("Jenkins version", lambda standin: setattr(standin, "jenkins_version", "2.440.3"), "upgrade Jenkins to 2.479.1"),
    ("plugins", unplug("lockable-resources"), "missing lockable-resources -> install or enable them"),
    ("plugins", unplug("coverage"), "missing coverage -> install"),
    ("plugins", unplug("warnings-ng"), "missing warnings-ng -> install"),
    ("plugins", unplug("workflow-cps"), "missing workflow-cps -> install"),
    ("plugins", unplug("workflow-job"), "missing workflow-job -> install"),
    ("plugins", lambda standin: standin.facts.plugins.update({"junit": ("1", False)}), "inactive junit"),
    ("input step REST data", lambda standin: standin.facts.plugins.update(
        {"pipeline-input-step": (INPUT_STEP_NO_EXPORT, True)}), "update it to 466.v6d0a_5df34f81"),
    ("job type", plain_job, f"{JOB} is a plain Pipeline job -> rename or delete it"),
    ("job type", lambda standin: standin.items.pop((JOB,)), f"cannot check: no job {JOB} -> run `python -m ci"),
    ("git source", lambda standin: standin.set_config(JOB, standin.config(JOB).replace(SCM_URL, "https://x/y.git")),
     "https://x/y.git with credentials (none) -> run `python -m ci jenkins sync-job`"),
    ("branch and tag discovery", no_tag_discovery, "missing TagDiscoveryTrait"),
    ("tag build strategy", no_tag_strategy, "missing TagBuildStrategyImpl"),
    ("credentials", lambda standin: standin.facts.credentials.update({"": ["model-registry"]}),
     "missing deploy-ssh-key, deploy-known-hosts -> add them"),
    # The REST pages show a System-scoped credential like any other; only the lookup in the job's context tells.
    ("credentials", lambda standin: standin.facts.system_scoped.add("deploy-ssh-key"),
     "deploy-ssh-key: scope System: jobs cannot use it; make it Global -> add them"),
    # credentials-binding's MultiBinding.getCredentials refuses an id of another kind than its binding's type().
    ("credentials", lambda standin: standin.facts.credential_types.update({"deploy-known-hosts": "Secret text"}),
     "deploy-known-hosts is of type Secret text where file() needs a Secret file (FileCredentials) -> "),
    ("credentials", lambda standin: standin.facts.credential_types.update({"model-registry": "Secret text"}),
     "model-registry is of type Secret text where usernamePassword() needs a Username with password"),
    ("credentials", lambda standin: standin.facts.credential_types.update(
        {"deploy-ssh-key": "Username with password"}),
     "where sshUserPrivateKey() needs an SSH Username with private key (SSHUserPrivateKey)"),
    ("agent", lambda standin: standin.facts.computers.__setitem__(1, ("agent-1", False, ("docker",), 2)),
     "no online agent with an executor and no cloud has label docker"),
    ("release managers", lambda standin: standin.facts.global_env.update({"RELEASE_MANAGERS": "ops"}),
     "the approval input's submitters are ops -> set global variable RELEASE_MANAGERS=release-managers"),
    ("webhook token", lambda standin: standin.facts.notify_tokens.clear(),
     "the token in JENKINS_NOTIFY_COMMIT_TOKEN is refused"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None)
def test_each_check_fails_on_its_own_with_its_fix(doctor, standin, name, breaks, expected):
    breaks(standin)
    run = doctor()
    assert run.exit_code == 1, run.err
    found = lines(run)
    failed = [check for check, line in found.items() if line.startswith("FAIL")]
    # A job that is gone or of the wrong type has no source, discovery or strategy lines to show.
    assert failed == [name], run.err
    assert expected in found[name]
    assert f"1 of {len(found)} checks failed: {name}" in run.summary


def test_an_agent_a_cloud_provisions_on_demand_passes(doctor, standin):
    standin.facts.computers = [("built-in", True, (), 0)]
    standin.facts.clouds = {"docker": ["com.nirima.jenkins.plugins.docker.DockerCloud"]}
    run = doctor()
    assert run.exit_code == 0, run.err
    assert "ok   agent: docker from cloud DockerCloud" in run.err


def test_without_the_webhook_token_doctor_cannot_check_it_and_says_so(doctor, monkeypatch):
    monkeypatch.delenv("JENKINS_NOTIFY_COMMIT_TOKEN")
    run = doctor()
    assert run.exit_code == 1
    assert "cannot check: JENKINS_NOTIFY_COMMIT_TOKEN is not set and Jenkins requires a token" in \
        lines(run)["webhook token"]


def test_what_a_user_without_admin_rights_cannot_see_is_a_failed_check_naming_the_permission(doctor):
    run = doctor(user="alice")
    assert run.exit_code == 1
    found = lines(run)
    assert "cannot check: Jenkins refused the plugins (HTTP 403)" in found["plugins"]
    assert "Overall/SystemRead" in found["plugins"]
    assert "cannot check" in found["release managers"] and "Overall/Administer" in found["release managers"]
    assert found["agent"].startswith("ok")
    assert found["credentials"].startswith("ok") and "scope not checked" in found["credentials"]


# What Functions.printStackTrace writes into the /scriptText answer (HTTP 200) when a script throws.
COMPILE_ERROR = ("org.codehaus.groovy.control.MultipleCompilationErrorsException: startup failed:\n"
                 "Script1.groovy: 1: unable to resolve class com.cloudbees.plugins.credentials.CredentialsProvider\n")
RUNTIME_ERROR = ("java.lang.NullPointerException: Cannot invoke method get() on null object\n"
                 "\tat org.codehaus.groovy.runtime.NullObject.invokeMethod(NullObject.java:91)\n")


@pytest.mark.parametrize("script, check, answer", [
    ("credentials", "credentials", COMPILE_ERROR),
    ("credentials", "credentials", RUNTIME_ERROR),
    ("global_env", "release managers", RUNTIME_ERROR),
    ("global_env", "release managers", COMPILE_ERROR),
])
def test_a_check_script_that_fails_on_this_jenkins_is_a_fail_line_naming_its_error(
        doctor, standin, script, check, answer):
    standin.facts.failing_scripts[script] = answer
    run = doctor()
    assert run.exit_code == 1, run.err
    found = lines(run)
    assert [name for name, line in found.items() if line.startswith("FAIL")] == [check], run.err
    assert f"FAIL {check}: the check script failed on this Jenkins: {answer.splitlines()[0]} -> " in found[check]
    assert "administrator" not in found[check].split(" -> ")[0] and "Traceback" not in run.err


def test_an_administrator_is_told_the_credentials_a_plain_job_could_use_not_to_be_an_administrator(doctor, standin):
    plain_job(standin)
    standin.facts.credential_types["deploy-known-hosts"] = "Secret text"
    found = lines(doctor())
    assert found["job type"].startswith("FAIL")
    assert found["credentials"].startswith("FAIL credentials: deploy-known-hosts is of type Secret text"), found
    assert "administrator" not in found["credentials"]


def test_without_admin_rights_the_kind_is_judged_from_the_stores_type_name_where_it_is_a_known_one(doctor, standin):
    # CredentialsStoreAction.CredentialsWrapper exports getTypeName (the credential's descriptor display name).
    standin.facts.credential_types["deploy-known-hosts"] = "Secret text"
    found = lines(doctor(user="alice"))
    assert "deploy-known-hosts is of type Secret text where file() needs a Secret file" in found["credentials"]
    standin.facts.credential_types["deploy-known-hosts"] = "Vault Secret File Credential"
    found = lines(doctor(user="alice"))
    assert found["credentials"].startswith("ok"), found["credentials"]
    assert "kind of deploy-known-hosts not checked (type Vault Secret File Credential)" in found["credentials"]
