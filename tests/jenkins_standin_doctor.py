"""The pages of the Jenkins stand-in that `ci jenkins doctor` reads, and the facts a test arranges for them."""

import json
import re
from urllib.parse import unquote
from dataclasses import dataclass, field

from ci.jenkins.doctor import RESULT_MARKER

# The kinds the stand-in's credentials play: each standard implementation's descriptor display name (what
# CredentialsStoreAction.CredentialsWrapper.getTypeName exports) and the binding interfaces it implements
# (jenkinsci/credentials-plugin: impl/UsernamePasswordCredentialsImpl.java implements
# StandardUsernamePasswordCredentials, "Username with password"; jenkinsci/ssh-credentials-plugin:
# impl/BasicSSHUserPrivateKey.java implements SSHUserPrivateKey, "SSH Username with private key";
# jenkinsci/plain-credentials-plugin: impl/FileCredentialsImpl.java implements FileCredentials, "Secret file",
# impl/StringCredentialsImpl.java implements StringCredentials only, "Secret text").
IMPLEMENTS = {
    "Username with password": ["com.cloudbees.plugins.credentials.common.StandardUsernamePasswordCredentials"],
    "SSH Username with private key": ["com.cloudbees.jenkins.plugins.sshcredentials.SSHUserPrivateKey"],
    "Secret file": ["org.jenkinsci.plugins.plaincredentials.FileCredentials"],
    "Secret text": [],
}


@dataclass
class Facts:
    """What doctor reads, arranged by a test: installed plugins, agents, credentials, webhook tokens, global
    environment variables."""

    plugins: dict = field(default_factory=dict)  # shortName -> (version, active)
    computers: list = field(default_factory=list)  # (name, online, labels, executors)
    credentials: dict = field(default_factory=dict)  # "" (the root) or a job name -> ids
    notify_tokens: set = field(default_factory=set)
    global_env: dict = field(default_factory=dict)
    clouds: dict = field(default_factory=dict)  # label -> classes of the clouds that can provision it
    system_scoped: set = field(default_factory=set)  # ids in the root store with scope System
    credential_types: dict = field(default_factory=dict)  # id -> its descriptor's display name (a key of IMPLEMENTS
    # or any other name: a credential kind of some other plugin); "Username with password" when not given
    failing_scripts: dict = field(default_factory=dict)  # "credentials" or "global_env" -> the stack trace it prints


class DoctorPages:
    """Mixed into JenkinsStandIn: expects self.facts, self.admins."""

    def _doctor_route(self, method: str, path: str, query: dict, user: str) -> tuple[int, dict, bytes] | None:
        if method == "GET" and path == "/pluginManager/api/json":
            # PluginManager.getApi: checkPermission(Jenkins.SYSTEM_READ) (administrators here).
            if user not in self.admins:
                return 403, {}, f"{user} is missing the Overall/SystemRead permission\n".encode()
            return json_page({"_class": "hudson.LocalPluginManager", "plugins": [
                {"shortName": name, "version": version, "active": active, "enabled": active}
                for name, (version, active) in self.facts.plugins.items()]})
        if method == "GET" and path == "/computer/api/json":
            # ComputerSet.getComputers exported as `computer`; Computer.isOffline, getAssignedLabels, numExecutors.
            return json_page({"_class": "hudson.model.ComputerSet", "computer": [
                {"displayName": name, "offline": not online, "numExecutors": executors,
                 "assignedLabels": [{"name": label} for label in (name, *labels)]}
                for name, online, labels, executors in self.facts.computers]})
        if method == "GET" and path.startswith("/label/") and path.endswith("/api/json"):
            # Jenkins.getLabel(expr) makes any label on demand; Label.getNodes and getClouds (canProvision) are
            # @Exported, a Cloud shows only its _class (jenkinsci/jenkins: core/src/main/java/hudson/model/Label.java).
            label = unquote(path[len("/label/"):-len("/api/json")])
            nodes = [{"nodeName": name} for name, _, labels, _ in self.facts.computers if label in (name, *labels)]
            return json_page({"_class": "hudson.model.labels.LabelAtom", "nodes": nodes, "clouds": [
                {"_class": name} for name in self.facts.clouds.get(label, [])]})
        if method == "GET" and path == "/credentials/api/json":
            return self._credentials("")
        if method == "POST" and path == "/scriptText":
            # Jenkins._doScript: checkPermission(ADMINISTER), then RemotingDiagnostics.executeGroovy; Script.call
            # catches whatever the script throws and prints it (Functions.printStackTrace) into the answer, which
            # _scriptText.jelly sends as text/plain with status 200 (jenkinsci/jenkins: core/src/main/java/jenkins/
            # model/Jenkins.java _doScript, hudson/util/RemotingDiagnostics.java Script.call). Only the scripts
            # doctor sends are understood.
            if user not in self.admins:
                return 403, {}, f"{user} is missing the Overall/Administer permission\n".encode()
            script = "credentials" if "lookupCredentials" in query.get("script", "") else "global_env"
            if script in self.facts.failing_scripts:
                answer = self.facts.failing_scripts[script]
            elif script == "credentials":
                answer = RESULT_MARKER + self._credentials_lookup(query["script"]) + "\n"
            else:
                answer = RESULT_MARKER + json.dumps(self.facts.global_env) + "\n"
            return 200, {"Content-Type": "text/plain;charset=UTF-8"}, answer.encode()
        return None

    def _credentials(self, owner: str | None) -> tuple[int, dict, bytes]:
        """ViewCredentialsAction.getStoreActionsMap exported as `stores`, each store's `domains`, each domain's
        `credentials` with their ids (jenkinsci/credentials-plugin: ViewCredentialsAction.java,
        CredentialsStoreAction.java). Only the item's own stores: the root shows the system store."""
        if owner is None or (owner not in self.facts.credentials and owner != ""):
            return json_page({"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction", "stores": {}})
        store = "system" if owner == "" else "folder"
        ids = self.facts.credentials.get(owner, [])
        return json_page({"_class": "com.cloudbees.plugins.credentials.ViewCredentialsAction", "stores": {
            store: {"_class": "com.cloudbees.plugins.credentials.CredentialsStoreAction", "domains": {
                "_": {"credentials": [{"id": identifier, "typeName": self._type(identifier)}
                                      for identifier in ids]}}}}})

    def _type(self, identifier: str) -> str:
        return self.facts.credential_types.get(identifier, "Username with password")

    def _credentials_lookup(self, script: str) -> str:
        """What doctor's lookup script prints: CredentialsProvider.lookupCredentials in the project (an ItemGroup)
        leaves out the root store's System-scoped credentials (jenkinsci/credentials-plugin: SystemCredentialsProvider
        .ProviderImpl.getCredentialsInItemGroup: not(withScope(SYSTEM)) unless the group is Jenkins itself) and adds
        the project folder's own (cloudbees-folder FolderCredentialsProvider.getCredentialsInItemGroup)."""
        name = re.search(r"def names = '([^']*)'", script).group(1)
        root = self.facts.credentials.get("", [])
        system = [identifier for identifier in root if identifier in self.facts.system_scoped]
        # No project, or a plain job (no ItemGroup): the script looks up in the root, leaving System scope out.
        own = self.facts.credentials.get(name, []) if self.items.get((name,)) and \
            self.items[(name,)].kind == "multibranch" else []
        usable = [identifier for identifier in root if identifier not in system] + own
        return json.dumps({"usable": {identifier: {"type": self._type(identifier), "kinds": IMPLEMENTS.get(
            self._type(identifier), [])} for identifier in usable}, "system": system})

    def _notify_commit(self, query: dict) -> tuple[int, dict, bytes]:
        """jenkinsci/git-plugin: GitStatus.doNotifyCommit, with the default access control."""
        token = query.get("token")
        if not token:
            return 401, {}, b"An access token is required. Please refer to Git plugin documentation\n"
        if token not in self.facts.notify_tokens:
            return 403, {}, b"Invalid access token\n"
        return 200, {"Content-Type": "text/plain"}, f"No git jobs using repository: {query.get('url')}\n".encode()


def json_page(document) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(document).encode()


def failure_page(message: str) -> tuple[int, dict, bytes]:
    """hudson.model.Failure rendered by AbstractModelObject/error.jelly: 400, X-Error, an HTML page."""
    page = f"<html><head><title>Jenkins</title></head><body><h1>Error</h1><p>{message}</p></body></html>"
    return 400, {"X-Error": message, "Content-Type": "text/html;charset=utf-8"}, page.encode()
