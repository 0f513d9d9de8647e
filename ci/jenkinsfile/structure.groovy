// Check a declarative Jenkinsfile's structure offline: section and directive names, post conditions, and
// exactly one of steps/stages/parallel/matrix per stage. Jenkins's own validator needs a running Jenkins;
// the linters do not know these rules. Prints one line per problem (with its line number); exit 1 if any.
// With --stages-json it then prints the stage tree (names, lines, every sh command and step called in each
// stage's steps), which the tests compare with `python -m ci pipeline`'s stages.
import groovy.json.JsonOutput
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.stmt.BlockStatement
import org.codehaus.groovy.ast.stmt.ExpressionStatement
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

PIPELINE_SECTIONS = ['agent', 'options', 'triggers', 'parameters', 'environment', 'stages', 'post', 'tools',
                     'libraries'] as Set
STAGE_DIRECTIVES = ['agent', 'options', 'when', 'environment', 'input', 'post', 'tools', 'steps', 'stages',
                    'parallel', 'matrix', 'failFast'] as Set
STAGE_BODIES = ['steps', 'stages', 'parallel', 'matrix'] as Set
POST_CONDITIONS = ['always', 'changed', 'fixed', 'regression', 'aborted', 'failure', 'success', 'unstable',
                   'unsuccessful', 'notBuilt', 'cleanup'] as Set
problems = []

List<MethodCallExpression> calls(ClosureExpression closure) {
    def code = closure.code
    def statements = code instanceof BlockStatement ? code.statements : [code]
    statements.findAll { it instanceof ExpressionStatement && it.expression instanceof MethodCallExpression }
              .collect { it.expression as MethodCallExpression }
}

ClosureExpression closureOf(MethodCallExpression call) {
    def arguments = call.arguments
    if (arguments instanceof ArgumentListExpression) {
        def closures = arguments.expressions.findAll { it instanceof ClosureExpression }
        return closures ? closures.last() as ClosureExpression : null
    }
    null
}

void checkNames(ClosureExpression closure, Set allowed, String where) {
    calls(closure).each { call ->
        if (!(call.methodAsString in allowed)) {
            problems << "line ${call.lineNumber}: '${call.methodAsString}' is not allowed in ${where}"
        }
    }
}

void checkPost(MethodCallExpression post, String where) {
    def body = closureOf(post)
    if (body) {
        checkNames(body, POST_CONDITIONS, "post of ${where} (conditions: ${POST_CONDITIONS.join(', ')})")
    }
}

void checkStages(MethodCallExpression stagesCall) {
    def body = closureOf(stagesCall)
    if (!body) {
        problems << "line ${stagesCall.lineNumber}: stages has no block"
        return
    }
    def stages = calls(body)
    if (!stages) {
        problems << "line ${stagesCall.lineNumber}: stages holds no stage"
    }
    stages.each { stage ->
        if (stage.methodAsString != 'stage') {
            problems << "line ${stage.lineNumber}: '${stage.methodAsString}' is not allowed in stages (only stage)"
            return
        }
        def stageBody = closureOf(stage)
        def name = stage.arguments.expressions ? stage.arguments.expressions[0].text : '?'
        if (!stageBody) {
            problems << "line ${stage.lineNumber}: stage '${name}' has no block"
            return
        }
        checkNames(stageBody, STAGE_DIRECTIVES, "stage '${name}'")
        def directives = calls(stageBody)
        def bodies = directives.findAll { it.methodAsString in STAGE_BODIES }
        if (bodies.size() != 1) {
            problems << "line ${stage.lineNumber}: stage '${name}' needs exactly one of steps, stages, parallel " +
                        "or matrix (found ${bodies.size()})"
        }
        directives.findAll { it.methodAsString == 'stages' }.each { checkStages(it) }
        directives.findAll { it.methodAsString == 'post' }.each { checkPost(it, "stage '${name}'") }
    }
}

class StepCollector extends CodeVisitorSupport {
    List<String> shell = []
    List<String> called = []

    @Override
    void visitMethodCallExpression(MethodCallExpression call) {
        called << call.methodAsString
        if (call.methodAsString == 'sh') {
            def arguments = call.arguments.expressions
            shell << (arguments ? arguments[0].text : '')
        }
        super.visitMethodCallExpression(call)
    }
}

List<Map> stageTree(MethodCallExpression stagesCall) {
    def body = closureOf(stagesCall)
    if (!body) {
        return []
    }
    calls(body).findAll { it.methodAsString == 'stage' && closureOf(it) }.collect { stage ->
        def directives = calls(closureOf(stage))
        def collector = new StepCollector()
        directives.findAll { it.methodAsString == 'steps' }.each { closureOf(it)?.code?.visit(collector) }
        [name    : stage.arguments.expressions[0].text, line: stage.lineNumber,
         sh      : collector.shell, steps: collector.called,
         stages  : directives.findAll { it.methodAsString == 'stages' }.collectMany { stageTree(it) }]
    }
}

def unit = new CompilationUnit()
unit.addSource(new File(args[0]))
try {
    unit.compile(Phases.CONVERSION)
} catch (CompilationFailedException error) {
    System.err.println(error.message)
    System.exit(1)
}
def statements = unit.AST.modules[0].statementBlock.statements
def pipelines = statements.findAll {
    it instanceof ExpressionStatement && it.expression instanceof MethodCallExpression &&
        it.expression.methodAsString == 'pipeline'
}
if (pipelines.size() != 1) {
    problems << "line 1: a declarative Jenkinsfile has exactly one pipeline block (found ${pipelines.size()})"
} else {
    def pipelineBody = closureOf(pipelines[0].expression as MethodCallExpression)
    checkNames(pipelineBody, PIPELINE_SECTIONS, 'pipeline')
    def sections = calls(pipelineBody)
    ['agent', 'stages'].each { required ->
        if (!sections.any { it.methodAsString == required }) {
            problems << "line ${pipelines[0].lineNumber}: pipeline has no ${required} section"
        }
    }
    sections.findAll { it.methodAsString == 'stages' }.each { checkStages(it) }
    sections.findAll { it.methodAsString == 'post' }.each { checkPost(it, 'pipeline') }
}
if (problems) {
    problems.each { System.err.println(it) }
    System.exit(1)
}
if (args.length > 1 && args[1] == '--stages-json') {
    def pipelineBody = closureOf(pipelines[0].expression as MethodCallExpression)
    println JsonOutput.toJson(calls(pipelineBody).findAll { it.methodAsString == 'stages' }
                                                   .collectMany { stageTree(it) })
} else {
    println "structure ok: ${args[0]}"
}
