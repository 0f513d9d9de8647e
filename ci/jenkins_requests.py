"""The pure Jenkins helpers under their former module name; they live in the ci.jenkins package now."""

from ci.jenkins.answers import (EVIDENCE_FIRST, EVIDENCE_PREFIX, RESULT_EXIT_CODES, BuildStatus,  # noqa: F401
                                ConsoleChunk, PendingInput, QueueState, build_status, check_parameters,
                                choose_input, console_chunk, describe_build, evidence_links, exit_code_for_result,
                                format_duration, job_parameter_names, parse_parameters, pending_inputs, queue_state)
from ci.jenkins.connection import (TLS_VERIFY_VARIABLE, TOKEN_VARIABLE, URL_VARIABLE, USER_VARIABLE,  # noqa: F401
                                   JenkinsConnection, connection_from, connection_warnings, tls_verify_from)
from ci.jenkins.failures import JenkinsFailure, error_for_failure  # noqa: F401
from ci.jenkins.job_xml import SyncPlan, job_config_xml, merged_job_xml, owned_view, sync_plan  # noqa: F401
from ci.jenkins.paths import (JobRef, branch_job, build_path, input_submit_path, jenkins_input_id,  # noqa: F401
                              job_path, progressive_text_path, project_job)
