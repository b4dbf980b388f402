// Command authconform is the one CLI of the project: run the conformance
// suites, serve the reference implementation, load-test auth paths, and
// re-report load results. Each subcommand lives in its own file and
// registers itself in commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"github.com/authconform/authconform/spec"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// command is one subcommand. run returns the process exit code: 0 success,
// 1 a failed check / breached threshold, 2 a usage error.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
	// details is printed after the flags by --help ("" = the generic exit
	// codes line).
	details string
}

var commands = map[string]command{}

func register(name string, c command) { commands[name] = c }

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() { os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr)) }

// buildVersion can be set at link time:
// go build -ldflags "-X main.buildVersion=v1.2.3" ./cmd/authconform
var buildVersion = ""

// versionString is the suite version: the link-time value, else the
// module version from the build info (a tagged `go install`), else the
// development version with the VCS revision when known.
func versionString() string {
	if buildVersion != "" {
		return buildVersion
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			return mv
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
	}
	return v
}

func mainExit(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		if len(args) > 1 {
			return usageErr(stderr, "version", "takes no arguments")
		}
		fmt.Fprintf(stdout, "authconform %s\n", versionString())
		return exitOK
	}
	if len(args) >= 2 && args[0] == "help" {
		// authconform help run == authconform run --help
		if _, ok := commands[args[1]]; !ok {
			fmt.Fprintf(stderr, "authconform help: unknown command %q; run 'authconform --help' for the list\n", args[1])
			return exitUsage
		}
		return mainExit([]string{args[1], "--help"}, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) == 0 {
			// No command is a usage error: the list goes to stderr.
			usage(stderr)
			return exitUsage
		}
		usage(stdout)
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "authconform: unknown command %q; run 'authconform --help' for the list\n", args[0])
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "authconform: conformance suite and load harness for API authentication")
	fmt.Fprintln(w, "\nUsage: authconform COMMAND [flags]   (authconform help COMMAND, or COMMAND --help, for its flags)")
	fmt.Fprintln(w, "       authconform --version")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nExit codes: 0 success, 1 a MUST check failed or a threshold was breached, 2 usage error;")
	fmt.Fprintln(w, "run also: 3 preflight failed, 130 interrupted (authconform run --help).")
}

// parseFlags parses fs and turns any flag error into the one-line usage
// error contract: "authconform CMD: <problem>; <fix>" and exit code 2.
// ok is false when the caller must return code (help printed, or an error).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		// Asked-for help is output, not an error: stdout, exit 0.
		out := stdout
		fs.SetOutput(out)
		fmt.Fprintf(out, "authconform %s: %s\n\nUsage of authconform %s:\n", fs.Name(), commands[fs.Name()].summary, fs.Name())
		fs.PrintDefaults()
		if d := commands[fs.Name()].details; d != "" {
			fmt.Fprint(out, d)
		} else {
			fmt.Fprintln(out, "\nExit codes: 0 success, 1 a MUST check failed or a threshold was breached, 2 usage error.")
		}
		return exitOK, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "authconform %s: %s; run 'authconform %s --help'\n", fs.Name(), spec.OneLine(err.Error()), fs.Name())
		return exitUsage, false
	}
	return 0, true
}

// usageErr prints a one-line usage error and returns exitUsage.
func usageErr(stderr io.Writer, cmd, format string, a ...any) int {
	fmt.Fprintf(stderr, "authconform %s: %s\n", cmd, spec.OneLine(fmt.Sprintf(format, a...)))
	return exitUsage
}

// stringsFlag is a repeatable string flag (--fault A --fault B).
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }
