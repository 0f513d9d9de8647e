"""The pages of the Jenkins stand-in that `ci jenkins doctor` reads, and the facts a test arranges for them."""

import json
import re
from urllib.parse import unquote
from dataclasses import dataclass, field


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
            # Jenkins.doScriptText: Overall/Administer (RUN_SCRIPTS). Only the script doctor sends is understood.
            if user not in self.admins:
                return 403, {}, f"{user} is missing the Overall/Administer permission\n".encode()
            if "lookupCredentials" in query.get("script", ""):
                return 200, {"Content-Type": "text/plain"}, self._credentials_lookup(query["script"]).encode()
            return 200, {"Content-Type": "text/plain"}, json.dumps(self.facts.global_env).encode()
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
                "_": {"credentials": [{"id": identifier} for identifier in ids]}}}}})

    def _credentials_lookup(self, script: str) -> str:
        """What doctor's lookup script prints: CredentialsProvider.lookupCredentials in the project (an ItemGroup)
        leaves out the root store's System-scoped credentials (jenkinsci/credentials-plugin: SystemCredentialsProvider
        .ProviderImpl.getCredentialsInItemGroup: not(withScope(SYSTEM)) unless the group is Jenkins itself) and adds
        the project folder's own (cloudbees-folder FolderCredentialsProvider.getCredentialsInItemGroup)."""
        name = re.search(r"getItemByFullName\('([^']*)'\)", script).group(1)
        root = self.facts.credentials.get("", [])
        system = [identifier for identifier in root if identifier in self.facts.system_scoped]
        if (name,) not in self.items or self.items[(name,)].kind != "multibranch":
            return json.dumps({"usable": None, "system": system})
        usable = [identifier for identifier in root if identifier not in system] + self.facts.credentials.get(name, [])
        return json.dumps({"usable": usable, "system": system})

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
