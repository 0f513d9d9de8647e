"""The push webhook a git server calls: the git plugin's /git/notifyCommit, with the access token it requires.

jenkinsci/git-plugin: src/main/java/hudson/plugins/git/GitStatus.java (doNotifyCommit): since SECURITY-284 a call
without `token` is refused with 401 and a wrong one with 403, unless the administrator set the system property
hudson.plugins.git.GitStatus.NOTIFY_COMMIT_ACCESS_CONTROL=disabled. The tokens are made in Manage Jenkins »
Security » "Git plugin notifyCommit access tokens" (hudson/plugins/git/ApiTokenPropertyConfiguration.java, a
GlobalConfiguration of the Security category; only its hash is stored, so no REST call can show it). A notifyCommit
without `branches` reaches a multibranch project through GitSCMSource.ListenerImpl (jenkins/plugins/git/
GitSCMSource.java): every GitSCMSource whose remote loosely matches `url` is rescanned ("Scheduled indexing of ...").
"""

from urllib.parse import quote

TOKEN_VARIABLE = "JENKINS_NOTIFY_COMMIT_TOKEN"
TOKEN_PLACE = "Manage Jenkins » Security » Git plugin notifyCommit access tokens"


def webhook_url(jenkins_url: str, scm_url: str, token: str = "<token>") -> str:
    return f"{jenkins_url}git/notifyCommit?url={quote(scm_url, safe='')}&token={token}"


def webhook_line(jenkins_url: str, scm_url: str) -> str:
    return (f"push webhook for the git server (POST or GET): {webhook_url(jenkins_url, scm_url)} - the token is one "
            f"made in {TOKEN_PLACE}; without it Jenkins answers 401 and only the periodic scan sees pushes")
