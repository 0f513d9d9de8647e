// The declarative Jenkinsfile as plain data (maps and lists, JSON-ready) read from its Groovy AST: pipeline
// options, and per stage its when conditions (with beforeAgent/beforeOptions/beforeInput), agent, options
// (lock, timeout...), steps as a tree (a block step's body nested in it) and post. Loaded by structure.groovy.
import org.codehaus.groovy.ast.ASTNode
import org.codehaus.groovy.ast.CodeVisitorSupport
import org.codehaus.groovy.ast.expr.ArgumentListExpression
import org.codehaus.groovy.ast.expr.ClosureExpression
import org.codehaus.groovy.ast.expr.ConstantExpression
import org.codehaus.groovy.ast.expr.Expression
import org.codehaus.groovy.ast.expr.ListExpression
import org.codehaus.groovy.ast.expr.MapExpression
import org.codehaus.groovy.ast.expr.MethodCallExpression
import org.codehaus.groovy.ast.expr.PropertyExpression
import org.codehaus.groovy.ast.expr.TupleExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.ast.stmt.BlockStatement
import org.codehaus.groovy.ast.stmt.ExpressionStatement

class DeclarativeModel {
    // The flags of pipeline-model-definition's StageConditionals, not conditions.
    static final Set WHEN_FLAGS = ['beforeAgent', 'beforeOptions', 'beforeInput'] as Set
    static final Set NESTING_CONDITIONS = ['anyOf', 'allOf', 'not'] as Set

    static List<MethodCallExpression> calls(ClosureExpression closure) {
        def code = closure.code
        def statements = code instanceof BlockStatement ? code.statements : [code]
        statements.findAll { it instanceof ExpressionStatement && it.expression instanceof MethodCallExpression }
                  .collect { it.expression as MethodCallExpression }
    }

    static List<Expression> argumentExpressions(MethodCallExpression call) {
        call.arguments instanceof TupleExpression ? (call.arguments as TupleExpression).expressions : []
    }

    static ClosureExpression closureOf(MethodCallExpression call) {
        if (!(call.arguments instanceof ArgumentListExpression)) {
            return null
        }
        def closures = argumentExpressions(call).findAll { it instanceof ClosureExpression }
        closures ? closures.last() as ClosureExpression : null
    }

    // A constant as itself; anything computed as its source text with the variables it reads (env.X or X).
    static Object value(Expression expression) {
        if (expression instanceof ConstantExpression) {
            return expression.value
        }
        if (expression instanceof ListExpression) {
            return expression.expressions.collect { value(it) }
        }
        if (expression instanceof MapExpression) {
            return expression.mapEntryExpressions.collectEntries { entry ->
                [(entry.keyExpression.text): value(entry.valueExpression)]
            }
        }
        if (expression instanceof ClosureExpression) {
            return [closure: expression.lineNumber]
        }
        [expression: expression.text, variables: variablesIn(expression)]
    }

    static List<String> variablesIn(Expression expression) {
        def found = [] as LinkedHashSet
        expression.visit(new CodeVisitorSupport() {
            @Override
            void visitPropertyExpression(PropertyExpression property) {
                if (property.objectExpression instanceof VariableExpression &&
                        property.objectExpression.name == 'env') {
                    found << property.propertyAsString
                }
                super.visitPropertyExpression(property)
            }

            @Override
            void visitVariableExpression(VariableExpression variable) {
                if (!(variable.name in ['env', 'this', 'params', 'currentBuild', 'scm'])) {
                    found << variable.name
                }
            }
        })
        found as List
    }

    // Positional arguments in order, named ones (`time: 3, unit: 'DAYS'`) by name; block closures left out.
    static Map arguments(MethodCallExpression call) {
        def positional = []
        def named = [:]
        argumentExpressions(call).each { argument ->
            if (argument instanceof MapExpression) {
                named.putAll(value(argument) as Map)
            } else if (!(argument instanceof ClosureExpression)) {
                positional << value(argument)
            }
        }
        [positional: positional, named: named]
    }

    static List<Map> stepTree(ASTNode code) {
        def collector = new StepTreeCollector()
        code?.visit(collector)
        collector.nodes
    }

    static Map condition(MethodCallExpression call) {
        def name = call.methodAsString
        if (name in NESTING_CONDITIONS) {
            def body = closureOf(call)
            return [kind: name, line: call.lineNumber, children: body ? calls(body).collect { condition(it) } : []]
        }
        if (name == 'expression') {
            return [kind: name, line: call.lineNumber]
        }
        [kind: name, line: call.lineNumber, args: arguments(call)]
    }

    static Map when(MethodCallExpression whenCall) {
        def body = closureOf(whenCall)
        def entries = body ? calls(body) : []
        def flags = WHEN_FLAGS.collectEntries { flag ->
            def setting = entries.find { it.methodAsString == flag }
            [(flag): setting ? arguments(setting).positional == [true] : false]
        }
        [line      : whenCall.lineNumber, *: flags,
         conditions: entries.findAll { !(it.methodAsString in WHEN_FLAGS) }.collect { condition(it) }]
    }

    static Map agent(MethodCallExpression agentCall) {
        def body = closureOf(agentCall)
        if (!body) {
            def positional = arguments(agentCall).positional
            def kind = positional ? positional[0] : null
            return [line: agentCall.lineNumber, kind: kind instanceof Map ? kind.expression : kind]
        }
        def inner = calls(body)
        inner ? [line: agentCall.lineNumber, kind: inner[0].methodAsString, args: arguments(inner[0])]
              : [line: agentCall.lineNumber, kind: 'empty']
    }

    // Each option (or trigger) with the calls in its arguments (buildDiscarder(logRotator(...))).
    static List<Map> options(MethodCallExpression optionsCall) {
        def body = closureOf(optionsCall)
        body ? calls(body).collect {
            [name: it.methodAsString, line: it.lineNumber, args: arguments(it), calls: callsIn(it)]
        } : []
    }

    static List<String> callsIn(MethodCallExpression call) {
        def found = []
        argumentExpressions(call).findAll { !(it instanceof ClosureExpression) }.each { argument ->
            argument.visit(new CodeVisitorSupport() {
                @Override
                void visitMethodCallExpression(MethodCallExpression inner) {
                    found << inner.methodAsString
                    super.visitMethodCallExpression(inner)
                }
            })
        }
        found
    }

    static Map post(MethodCallExpression postCall) {
        def body = closureOf(postCall)
        body ? calls(body).collectEntries { [(it.methodAsString): stepTree(closureOf(it)?.code)] } : [:]
    }

    static Map stage(MethodCallExpression stageCall) {
        def body = closureOf(stageCall)
        def directives = body ? calls(body) : []
        def named = { String wanted -> directives.find { it.methodAsString == wanted } }
        def steps = named('steps')
        def stepNodes = steps ? stepTree(closureOf(steps)?.code) : []
        def flat = flatten(stepNodes)
        [name   : stageCall.arguments.expressions ? value(stageCall.arguments.expressions[0]) : '?',
         line   : stageCall.lineNumber,
         when   : named('when') ? when(named('when')) : null,
         agent  : named('agent') ? agent(named('agent')) : null,
         options: named('options') ? options(named('options')) : [],
         input  : named('input') ? [line: named('input').lineNumber] : null,
         tree   : stepNodes,
         sh     : flat.findAll { it.name == 'sh' }.collect { shellText(it) },
         steps  : flat.collect { it.name },
         stages : named('stages') ? stages(named('stages')) : [],
         post   : named('post') ? post(named('post')) : [:]]
    }

    static List<Map> stages(MethodCallExpression stagesCall) {
        def body = closureOf(stagesCall)
        body ? calls(body).findAll { it.methodAsString == 'stage' && closureOf(it) }.collect { stage(it) } : []
    }

    static Map pipeline(MethodCallExpression pipelineCall) {
        def directives = calls(closureOf(pipelineCall))
        def named = { String wanted -> directives.find { it.methodAsString == wanted } }
        [line   : pipelineCall.lineNumber,
         agent  : named('agent') ? agent(named('agent')) : null,
         options: named('options') ? options(named('options')) : [],
         triggers: named('triggers') ? options(named('triggers')) : [],
         stages : named('stages') ? stages(named('stages')) : [],
         post   : named('post') ? post(named('post')) : [:]]
    }

    static List<Map> flatten(List<Map> nodes) {
        nodes.collectMany { [it] + flatten(it.body as List<Map>) }
    }

    static String shellText(Map node) {
        def script = node.args.positional ? node.args.positional[0] : node.args.named.script
        script instanceof Map ? script.expression : script as String
    }
}

// Each step call with its arguments; a block step's (timeout, lock, withCredentials, script...) calls nested in
// its body, so an input knows the timeout around it.
class StepTreeCollector extends CodeVisitorSupport {
    List<Map> nodes = []

    @Override
    void visitMethodCallExpression(MethodCallExpression call) {
        def node = [name: call.methodAsString, line: call.lineNumber, args: DeclarativeModel.arguments(call), body: []]
        nodes << node
        call.objectExpression.visit(this)
        DeclarativeModel.argumentExpressions(call).each { argument ->
            if (argument instanceof ClosureExpression) {
                node.body.addAll(DeclarativeModel.stepTree(argument.code))
            } else {
                argument.visit(this)
            }
        }
    }
}
