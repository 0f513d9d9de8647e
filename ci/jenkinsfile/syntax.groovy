// Compile a Jenkinsfile up to the CONVERSION phase with the Groovy line Jenkins runs (2.4): syntax errors
// come out with their line numbers. (GroovyShell.parse would wrongly reject the valid `@Library('x') _`.)
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilationUnit
import org.codehaus.groovy.control.Phases

// serve.groovy, which runs many checks in one JVM, binds an exit that hands the status back instead of ending it.
if (!binding.hasVariable('exit')) {
    exit = { int status -> System.exit(status) }
}
def file = new File(args[0])
def unit = new CompilationUnit()
unit.addSource(file)
try {
    unit.compile(Phases.CONVERSION)
    println "syntax ok: ${file}"
} catch (CompilationFailedException error) {
    System.err.println(error.message)
    exit(1)
}
