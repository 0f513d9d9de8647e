"""The input step's REST endpoints in the Jenkins stand-in (jenkinsci/pipeline-input-step-plugin:
src/main/java/org/jenkinsci/plugins/workflow/support/steps/input/InputStepExecution.java)."""

from tests.jenkins_standin_doctor import failure_page
from tests.jenkins_standin_state import INPUT_STEP_FIXED, Build, Input, plugin_release


class InputPages:
    """Mixed into JenkinsStandIn: expects self.admins, self.cancellers, self.groups, self.input_step_version."""

    def _may_submit(self, user: str, step: Input) -> bool:
        """InputStepExecution.canSettle: no submitter means Job/Build (every user here); an administrator always
        may; else the user's id or one of its groups is in the comma-separated list (IdStrategy: case-insensitive
        by default)."""
        if step.submitter is None or user in self.admins:
            return True
        names = {name.strip().lower() for name in step.submitter.split(",")}
        groups = {group.lower() for group, members in self.groups.items() if user in members}
        return user.lower() in names or bool(names & groups)

    def _settle(self, build: Build, input_id: str, verb: str, form: dict, user: str) -> tuple[int, dict, bytes]:
        """jenkinsci/pipeline-input-step-plugin: InputStepExecution.java doProceed, doProceedEmpty, doAbort."""
        step = build.waiting
        if step is None or step.id != input_id:
            # InputAction.getDynamic(id) is null for an input that is not pending: Stapler answers 404.
            return 404, {}, b"Not Found\n"
        if verb == "abort":
            # preAbortCheck: Job/Cancel, or anyone who may submit.
            if user not in self.cancellers and user not in self.admins and not self._may_submit(user, step):
                return failure_page(f"You need to be '{step.submitter}' (or have Job/Cancel permissions) to cancel "
                                    f"this.")
            build.settle(user, approve=False)
            return 200, {}, b""
        if not self._may_submit(user, step):
            # preSubmissionCheck.
            return failure_page(f"You need to be {step.submitter} to submit this.")
        if verb == "proceed":
            if "json" not in form:
                # Stapler RequestImpl.getSubmittedForm: no `json` field.
                return 400, {}, (b"This page expects a form submission" if form else b"Nothing is submitted")
            # parseValue: no parameters, plus the submitterParameter; proceed() returns a single value alone.
            values = {step.submitter_parameter: user} if step.submitter_parameter else {}
        elif plugin_release(self.input_step_version) < plugin_release(INPUT_STEP_FIXED):
            values = None  # proceed(null) before the JENKINS-40594 fix
        else:
            values = {step.submitter_parameter: user} if step.submitter_parameter else None
        value = next(iter(values.values())) if values and len(values) == 1 else (values or None)
        build.settle(user, approve=True, value=value)
        return 200, {}, b""
