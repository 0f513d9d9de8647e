// Answer many Jenkinsfile checks from one JVM: a JVM and Groovy take seconds to start, a check a fraction of one.
// Reads one request a line on stdin, {"path": ..., "mode": "syntax" | "structure" | "model-json"}, runs the
// one-shot script for that mode (syntax.groovy or structure.groovy, each compiled once) as `groovy` would run it,
// and writes one line of JSON, {"returncode": ..., "stdout": ..., "stderr": ...}: what that run would have given.
import groovy.json.JsonOutput
import groovy.json.JsonSlurper
import org.codehaus.groovy.runtime.InvokerHelper
import org.codehaus.groovy.runtime.StackTraceUtils

// Thrown by the exit bound for a check, so that the check stops there and this JVM goes on.
class ExitStatus extends RuntimeException {
    final int status

    ExitStatus(int status) {
        super("exit ${status}" as String)
        this.status = status
    }
}

def here = new File(getClass().protectionDomain.codeSource.location.toURI()).parentFile
def loader = new GroovyClassLoader(getClass().classLoader)
def syntax = loader.parseClass(new File(here, 'syntax.groovy'))
def structure = loader.parseClass(new File(here, 'structure.groovy'))
def model = loader.parseClass(new File(here, 'DeclarativeModel.groovy'))
def modes = [syntax: [syntax, []], structure: [structure, []], 'model-json': [structure, ['--model-json']]]
def answers = System.out

Map check(Class script, List<String> args, Class model) {
    def out = new ByteArrayOutputStream()
    def err = new ByteArrayOutputStream()
    def (realOut, realErr) = [System.out, System.err]
    int status = 0
    // The scripts print with System.out and System.err, as a one-shot run does; each check gets its own.
    System.setOut(new PrintStream(out, true))
    System.setErr(new PrintStream(err, true))
    try {
        def exit = { int code -> throw new ExitStatus(code) }
        def binding = new Binding([args: args as String[], Model: model, exit: exit])
        InvokerHelper.createScript(script, binding).run()
    } catch (ExitStatus exit) {
        status = exit.status
    } catch (Throwable error) {  // as groovy's launcher reports a script that throws (GroovyMain.processOnce)
        System.err.println("Caught: ${error}")
        StackTraceUtils.deepSanitize(error)
        error.printStackTrace()
        status = 1
    } finally {
        System.out.flush()
        System.err.flush()
        System.setOut(realOut)
        System.setErr(realErr)
    }
    [returncode: status, stdout: out.toString(), stderr: err.toString()]
}

System.in.eachLine { line ->
    def request = new JsonSlurper().parseText(line)
    def mode = modes[request.mode]
    def answer = mode ? check(mode[0], [request.path, *mode[1]], model) :
        [returncode: 2, stdout: '', stderr: "unknown mode '${request.mode}' (${modes.keySet().join(', ')})\n"]
    answers.println(JsonOutput.toJson(answer))
    answers.flush()
}
