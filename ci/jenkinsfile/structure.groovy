// Check a declarative Jenkinsfile offline: its structure (section and directive names, post conditions, exactly
// one of steps/stages/parallel/matrix per stage) and rules of how Jenkins runs it that the linters do not know
// (each rule cites the Jenkins source it follows). Jenkins's own validator needs a running Jenkins. Prints one
// line per problem (with its line number); exit 1 if any. With --model-json it prints the pipeline as data
// (DeclarativeModel.groovy), which the tests evaluate against each job type's environment.
import groovy.json.JsonOutput
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.stmt.ExpressionStatement
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

import java.util.concurrent.TimeUnit

// serve.groovy, which runs many checks in one JVM, binds an exit that hands the status back instead of ending it.
if (!binding.hasVariable('exit')) {
    exit = { int status -> System.exit(status) }
}
PIPELINE_SECTIONS = ['agent', 'options', 'triggers', 'parameters', 'environment', 'stages', 'post', 'tools',
                     'libraries'] as Set
STAGE_DIRECTIVES = ['agent', 'options', 'when', 'environment', 'input', 'post', 'tools', 'steps', 'stages',
                    'parallel', 'matrix', 'failFast'] as Set
STAGE_BODIES = ['steps', 'stages', 'parallel', 'matrix'] as Set
POST_CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable',
                   'unsuccessful', 'notBuilt', 'cleanup'] as Set
// Variables whose value differs per job, branch, tag or build (Jenkins core Job/Run.getCharacteristicEnvVars,
// branch-api BranchNameContributor): a lock named from one is never shared by the jobs that deploy.
PER_JOB_VARIABLES = ['JOB_NAME', 'JOB_BASE_NAME', 'BRANCH_NAME', 'TAG_NAME', 'CHANGE_ID', 'CHANGE_BRANCH',
                     'CHANGE_TARGET', 'BUILD_TAG', 'BUILD_NUMBER', 'BUILD_ID', 'JOB_URL', 'BUILD_URL',
                     'GIT_BRANCH', 'GIT_LOCAL_BRANCH', 'WORKSPACE', 'NODE_NAME', 'EXECUTOR_NUMBER'] as Set
problems = []

// serve.groovy binds the model class it compiled once; compiling it takes most of a warm check's time.
if (!binding.hasVariable('Model')) {
    def here = new File(getClass().protectionDomain.codeSource.location.toURI()).parentFile
    Model = new GroovyClassLoader(getClass().classLoader).parseClass(new File(here, 'DeclarativeModel.groovy'))
}

void checkNames(ClosureExpression closure, Set allowed, String where) {
    Model.calls(closure).each { call ->
        if (!(call.methodAsString in allowed)) {
            problems << "line ${call.lineNumber}: '${call.methodAsString}' is not allowed in ${where}"
        }
    }
}

void checkPost(MethodCallExpression post, String where) {
    def body = Model.closureOf(post)
    if (body) {
        checkNames(body, POST_CONDITIONS, "post of ${where} (conditions: ${POST_CONDITIONS.join(', ')})")
    }
}

void checkStages(MethodCallExpression stagesCall) {
    def body = Model.closureOf(stagesCall)
    if (!body) {
        problems << "line ${stagesCall.lineNumber}: stages has no block"
        return
    }
    def stages = Model.calls(body)
    if (!stages) {
        problems << "line ${stagesCall.lineNumber}: stages holds no stage"
    }
    stages.each { stage ->
        if (stage.methodAsString != 'stage') {
            problems << "line ${stage.lineNumber}: '${stage.methodAsString}' is not allowed in stages (only stage)"
            return
        }
        def stageBody = Model.closureOf(stage)
        def name = stage.arguments.expressions ? stage.arguments.expressions[0].text : '?'
        if (!stageBody) {
            problems << "line ${stage.lineNumber}: stage '${name}' has no block"
            return
        }
        checkNames(stageBody, STAGE_DIRECTIVES, "stage '${name}'")
        def directives = Model.calls(stageBody)
        def bodies = directives.findAll { it.methodAsString in STAGE_BODIES }
        if (bodies.size() != 1) {
            problems << "line ${stage.lineNumber}: stage '${name}' needs exactly one of steps, stages, parallel " +
                        "or matrix (found ${bodies.size()})"
        }
        directives.findAll { it.methodAsString == 'stages' }.each { checkStages(it) }
        directives.findAll { it.methodAsString == 'post' }.each { checkPost(it, "stage '${name}'") }
    }
}

List<Map> allStages(List<Map> stages) {
    stages.collectMany { [it] + allStages(it.stages as List<Map>) }
}

// A timeout's length in minutes; the timeout step's unit defaults to MINUTES (workflow-basic-steps TimeoutStep).
Long minutes(Map args) {
    def time = args.named.time ?: (args.positional ? args.positional[0] : null)
    time instanceof Number ? TimeUnit.valueOf(args.named.unit ?: 'MINUTES').toMinutes(time as long) : null
}

// Every input step with the nearest timeout step around it (null if none).
List<Map> inputsWithTimeouts(List<Map> nodes, Map around = null) {
    nodes.collectMany { node ->
        def inner = node.name == 'timeout' ? node : around
        (node.name == 'input' ? [[input: node, timeout: inner]] : []) + inputsWithTimeouts(node.body, inner)
    }
}

void checkRules(Map pipeline) {
    def stages = allStages(pipeline.stages)
    def inputs = stages.collectMany { inputsWithTimeouts(it.tree) }
    stages.each { stage ->
        def optionNames = stage.options*.name
        // pipeline-model-definition ModelInterpreter.evaluateStage: the stage's options wrap its agent, and its
        // when is evaluated inside both unless beforeOptions/beforeAgent say otherwise.
        if (stage.when && stage.agent && stage.agent.kind != 'none' && !stage.when.beforeAgent) {
            problems << "line ${stage.when.line}: stage '${stage.name}' allocates its agent before its when is " +
                        'evaluated, so every build that skips it still queues for an executor: add beforeAgent true'
        }
        if (stage.when && 'lock' in optionNames && !stage.when.beforeOptions) {
            problems << "line ${stage.when.line}: stage '${stage.name}' takes its lock before its when is " +
                        'evaluated, so a build that skips it still waits for the lock: add beforeOptions true'
        }
        if (stage.agent && stage.agent.kind != 'none' && 'timeout' in optionNames) {
            def option = stage.options.find { it.name == 'timeout' }
            problems << "line ${option.line}: stage '${stage.name}''s timeout option also counts the time queued " +
                        'for its agent (stage options wrap the agent): put timeout() inside its steps instead'
        }
        def locks = stage.options.findAll { it.name == 'lock' } +
                    Model.flatten(stage.tree).findAll { it.name == 'lock' }
        locks.each { lock ->
            def resource = lock.args.named.resource ?: lock.args.named.label ?:
                           (lock.args.positional ? lock.args.positional[0] : null)
            def perJob = resource instanceof Map ? resource.variables.findAll { it in PER_JOB_VARIABLES } : []
            if (perJob) {
                problems << "line ${lock.line}: lock resource \"${resource.expression}\" depends on " +
                            "${perJob.join(', ')}: each job (every branch and tag of a multibranch project) would " +
                            'lock a resource of its own; name the shared resource literally'
            }
        }
    }
    inputs.findAll { !it.timeout }.each {
        problems << "line ${it.input.line}: input waits without a timeout: wrap it in timeout(time: ..., unit: ...)"
    }
    def pipelineOptions = pipeline.options.collectEntries { [(it.name): it] }
    if (pipelineOptions.disableConcurrentBuilds && inputs) {
        // workflow-job DisableConcurrentBuildsJobProperty / WorkflowJob.isConcurrentBuild: the next build stays in
        // the queue until this one ends (abortPrevious instead aborts the build that waits for approval).
        problems << "line ${pipelineOptions.disableConcurrentBuilds.line}: disableConcurrentBuilds() with an " +
                    "input (line ${inputs[0].input.line}): while a release waits for approval every later build " +
                    'of the job waits (or, with abortPrevious, aborts the release)'
    }
    // This Jenkinsfile is for a Multibranch Pipeline, where every branch and tag job gets the pipeline's
    // triggers (pipeline-model-definition model/Triggers.groovy -> PipelineTriggersJobProperty). pollSCM makes each
    // of them poll, and each push then both re-indexes the project (git-plugin GitSCMSource.ListenerImpl) and polls
    // every job with an SCMTrigger (git-plugin hudson/plugins/git/GitStatus.java JenkinsAbstractProjectListener);
    // the project's scan (cloudbees-folder computed/PeriodicFolderTrigger) is the fallback. cron builds every
    // branch and tag on a timer.
    pipeline.triggers.findAll { it.name in ['pollSCM', 'cron'] }.each {
        problems << "line ${it.line}: ${it.name} in a Jenkinsfile for a Multibranch Pipeline: every branch and tag " +
                    'job would ' + (it.name == 'pollSCM' ? 'poll the repository (the project scan and the webhook ' +
                    'already find changes)' : 'build on this timer') + '; remove it (ci.toml [jenkins] scan_interval)'
    }
    def total = pipelineOptions.timeout ? minutes(pipelineOptions.timeout.args) : null
    inputs.findAll { total != null && it.timeout && minutes(it.timeout.args) >= total }.each {
        problems << "line ${pipelineOptions.timeout.line}: the pipeline-level timeout (${total} minutes) ends the " +
                    "build before the input's own timeout (line ${it.timeout.line}, ${minutes(it.timeout.args)} " +
                    "minutes) can: give each stage its own timeout instead"
    }
}

def unit = new CompilationUnit()
unit.addSource(new File(args[0]))
try {
    unit.compile(Phases.CONVERSION)
} catch (CompilationFailedException error) {
    System.err.println(error.message)
    exit(1)
}
def statements = unit.AST.modules[0].statementBlock.statements
def pipelines = statements.findAll {
    it instanceof ExpressionStatement && it.expression instanceof MethodCallExpression &&
        it.expression.methodAsString == 'pipeline'
}
Map model = null
if (pipelines.size() != 1) {
    problems << "line 1: a declarative Jenkinsfile has exactly one pipeline block (found ${pipelines.size()})"
} else {
    def pipelineBody = Model.closureOf(pipelines[0].expression as MethodCallExpression)
    checkNames(pipelineBody, PIPELINE_SECTIONS, 'pipeline')
    def sections = Model.calls(pipelineBody)
    ['agent', 'stages'].each { required ->
        if (!sections.any { it.methodAsString == required }) {
            problems << "line ${pipelines[0].lineNumber}: pipeline has no ${required} section"
        }
    }
    sections.findAll { it.methodAsString == 'stages' }.each { checkStages(it) }
    sections.findAll { it.methodAsString == 'post' }.each { checkPost(it, 'pipeline') }
    if (!problems) {
        model = Model.pipeline(pipelines[0].expression as MethodCallExpression)
        checkRules(model)
    }
}
// The model is printed even when a rule fails (its structure being sound), so a test can read a broken copy.
if (model != null && args.length > 1 && args[1] == '--model-json') {
    println JsonOutput.toJson(model)
}
if (problems) {
    problems.each { System.err.println(it) }
    exit(1)
}
if (args.length < 2) {
    println "structure ok: ${args[0]}"
}
