package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/onsi/ginkgo/v2/types"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/authconform/authconform/env"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	_ "github.com/authconform/authconform/suites/all" // every area's specs
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/report"
)

// version is the suite version written into every report.
var version = "0.1.0-dev"

func init() {
	register("run", command{summary: "run the conformance suites against the embedded reference or your implementation", run: runCmd, details: runDetails})
}

const runDetails = `
Before any check, a preflight asks whether the target file describes the
target: the base URL answers, a protected resource without credential gets
a 4xx JSON error, every principal's key and login work on its own resource,
the rate-limited key has budget, the MQTT address accepts TCP. Each problem
is one line naming the target-file field; nothing else runs (exit 3).

Status of each check, per profile:
  passed   every spec of it ran and passed
  failed   an assertion failed: a defect of the implementation
  error    inconclusive: a positive control failed (e.g. a valid key got 429
           or 5xx), or the answer could not be judged (broken connection,
           body cut short); the reason names the request
  skipped  not-applicable (the target lacks the feature: a ref-defined
           endpoint answered 404/405), not-selected (label filter) or
           not-run (no broker, no deployment control, no signing key, run
           interrupted, target unresponsive)

Verdict per profile and for the run:
  conformant      every applicable MUST check passed
  non-conformant  a MUST check failed or is error (with --strict also SHOULD)
  incomplete      nothing failed, but applicable MUST checks did not run
                  (the summary lists which and why)
  interrupted     Ctrl-C, SIGTERM or --timeout: what ran is reported, the
                  rest is not-run

Expectations (--expect FILE) let a CI gate adopt the suite with known
failures. The file (YAML; --write-expectations writes today's):
  expectations:
    - profile: roboticks
      check: JWT-006
      spec: "leeway"          # optional: only failing specs whose text has this
      reason: "clock skew fix in PR 123"
      knownIntermittent: true # optional: passing is not reported
A listed check that fails or is error is an expected failure: shown in
every report and still in the verdict (the truth about the target), but
not in the gate, the verdict after the expectations, which the exit code
follows. A listed check that passes is reported "unexpectedly passed:
remove it" and fails the gate (a stale entry would hide its next
regression) unless the entry says knownIntermittent.
--expect cannot be combined with --require-all.

Output: '-' for --json, --junit, --html or --write-expectations writes that
report to stdout; progress and the summary then go to stderr.

Exit codes: 0 conformant or incomplete (incomplete is 1 with --require-all),
1 non-conformant, 2 usage error (bad flag or target file, or a label filter
that selects no check), 3 preflight failed, 130 interrupted.
`

type runFlags struct {
	profile, target, env, labelFilter string
	image, brokerImage                string
	junit, jsonOut, html              string
	expect, writeExpect, profileFile  string
	strict, verbose, requireAll, list bool
	timeout                           time.Duration
	faults, variants                  stringsFlag
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.profile, "profile", "all", "profile to check: roboticks, rigbox, requestrocket, iotistica or all (with --target: the target file's profile)")
	fs.StringVar(&f.profileFile, "profile-file", "", "your own dialect as a profile document (YAML; see docs/PROFILES.md and spec/profiles/*.yaml): with --target the target file names it in profile:, without it the embedded reference serves it")
	fs.StringVar(&f.target, "target", "", "target file (YAML/JSON) describing YOUR running implementation; see fixtures/targets/README.md. Without it the embedded reference is checked")
	fs.StringVar(&f.env, "env", "auto", "where the target runs: auto (embedded; iotistica with the host's mosquitto + plugin when present), embedded (no broker: MQTT checks skip), exec (iotistica with the host's mosquitto), containers (iotistica: reference image + Mosquitto image under Docker; 'make images' builds them), external (--target)")
	fs.StringVar(&f.image, "image", "", "with --env containers: your iotistica implementation's image instead of the reference image; it is started with the seed's variables (JWT_SECRET, LICENSE_KEY, ...) and the arguments --target-out /tmp/target.yaml, and must write a target file describing its fixtures there (the reference's contract, see fixtures/targets/README.md)")
	fs.StringVar(&f.brokerImage, "broker-image", "", "with --env containers: the Mosquitto image (default: the one 'make images' builds)")
	fs.Var(&f.faults, "fault", "start the embedded reference with this deliberate defect (repeatable); 'authconform reference --help' lists them")
	fs.Var(&f.variants, "variant", "start the embedded reference with this conformant variant, an allowed difference every check must still pass (repeatable); 'authconform reference --help' lists them")
	fs.StringVar(&f.labelFilter, "label-filter", "", "Ginkgo label expression selecting checks, e.g. 'JWT-003', 'area:jwt && level:MUST', 'needs:timing' (default: "+framework.DefaultLabelFilter+")")
	fs.BoolVar(&f.strict, "strict", false, "a failed SHOULD check also fails the run (exit 1)")
	fs.BoolVar(&f.requireAll, "require-all", false, "an incomplete run (applicable MUST checks that did not run) exits 1 instead of 0")
	fs.StringVar(&f.expect, "expect", "", "expectations file (YAML): listed checks that fail are expected failures and do not fail the run; a listed check that passes is reported 'unexpectedly passed: remove it' (see --help)")
	fs.StringVar(&f.writeExpect, "write-expectations", "", "write today's failed and error checks as an expectations file ('-' = stdout), each with a TODO reason to fill in")
	fs.BoolVar(&f.list, "list", false, "print the checks the profile and label filter select (profile, ID, level, title) and exit without running them")
	fs.StringVar(&f.junit, "junit", "", "write JUnit XML to this file ('-' = stdout)")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON report to this file ('-' = stdout)")
	fs.StringVar(&f.html, "html", "", "write the self-contained HTML report to this file ('-' = stdout)")
	fs.DurationVar(&f.timeout, "timeout", 20*time.Minute, "give up the whole run after this long")
	fs.BoolVar(&f.verbose, "verbose", false, "also show Ginkgo's own output and testcontainers' log lines")
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return usageErr(stderr, "run", "unexpected argument %q; flags only, see 'authconform run --help'", fs.Arg(0))
	}
	if f.timeout <= 0 {
		return usageErr(stderr, "run", "--timeout %s must be positive, e.g. --timeout 10m", f.timeout)
	}
	if f.profileFile != "" {
		p, err := spec.LoadProfile(f.profileFile)
		if err != nil {
			return usageErr(stderr, "run", "--profile-file %v", err)
		}
		// Without --target the embedded reference serves the document.
		if f.target == "" && f.profile == "all" {
			f.profile = string(p.Name)
		}
	}
	profiles, err := spec.ParseProfiles(f.profile)
	if err != nil {
		return usageErr(stderr, "run", "--profile %q is not a profile; use one of %s or all", f.profile, strings.Join(spec.Names(), ", "))
	}
	switch f.env {
	case env.EnvAuto:
	case env.EnvEmbedded, env.EnvExec, env.EnvContainers:
		if f.target != "" {
			return usageErr(stderr, "run", "--env %s starts the implementation itself; drop --target or use --env external", f.env)
		}
	case env.EnvExternal:
		if f.target == "" {
			return usageErr(stderr, "run", "--env external needs --target FILE describing your running implementation")
		}
	default:
		return usageErr(stderr, "run", "--env %q is not an environment; use auto, embedded, exec, containers or external", f.env)
	}
	if (f.image != "" || f.brokerImage != "") && f.env != env.EnvContainers {
		return usageErr(stderr, "run", "--image and --broker-image need --env containers")
	}
	if len(f.faults) > 0 && f.target != "" {
		return usageErr(stderr, "run", "--fault starts the embedded reference with a defect; it cannot be combined with --target")
	}
	if len(f.variants) > 0 && f.target != "" {
		return usageErr(stderr, "run", "--variant starts the embedded reference with an allowed difference; it cannot be combined with --target")
	}
	for _, name := range f.variants {
		if _, err := reference.LookupVariant(name); err != nil {
			return usageErr(stderr, "run", "--variant %q is not a known variant; 'authconform reference --help' lists them", name)
		}
	}
	known := map[string]bool{}
	for _, fi := range reference.Faults() {
		known[fi.Name] = true
	}
	for _, name := range f.faults {
		if !known[name] {
			return usageErr(stderr, "run", "--fault %q is not a known fault; 'authconform reference --help' lists them", name)
		}
	}
	if f.expect != "" && f.requireAll {
		return usageErr(stderr, "run", "--expect waives failures, --require-all demands every check: use one of them")
	}
	var exps []framework.Expectation
	if f.expect != "" {
		if exps, err = framework.LoadExpectations(f.expect); err != nil {
			return usageErr(stderr, "run", "--expect %v", err)
		}
	}
	stdoutUsers := 0
	for _, p := range []string{f.jsonOut, f.junit, f.html, f.writeExpect} {
		if p == "-" {
			stdoutUsers++
		}
	}
	if stdoutUsers > 1 {
		return usageErr(stderr, "run", "only one of --json, --junit, --html and --write-expectations can be '-' (stdout)")
	}
	filter := f.labelFilter
	if filter == "" {
		filter = framework.DefaultLabelFilter
	}
	if _, err := types.ParseLabelFilter(filter); err != nil {
		return usageErr(stderr, "run", "--label-filter %q is not a valid label expression: %s", filter, stripANSI(err.Error()))
	}
	// With --target the profile comes from the file; check the selection
	// against every profile now and against the file's below.
	selProfiles := profiles
	if f.target != "" && f.profile == "all" {
		selProfiles = spec.AllProfiles
	}
	if ok, _ := framework.Selects(filter, selProfiles); !ok {
		return usageErr(stderr, "run", "--label-filter %q selects no check of %s; use check IDs (JWT-003), level:MUST, area:jwt, profile:rigbox or needs:... (see --help)", filter, profileList(selProfiles))
	}
	if f.list && f.target == "" {
		return listChecks(stdout, filter, profiles)
	}

	if !f.verbose {
		// testcontainers logs every container step to stderr; our progress
		// lines say what matters (errors still name the container).
		tclog.SetDefault(tclog.NewNoopLogger())
	}
	ctx := context.Background()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctxs, closeAll, err := env.Contexts(ctx, env.Options{Profiles: profiles, TargetPath: f.target, Faults: f.faults, Variants: f.variants, Env: f.env,
		Image: f.image, BrokerImage: f.brokerImage, Note: func(format string, a ...any) { fmt.Fprintf(stderr, "authconform run: "+format+"\n", a...) }})
	if err != nil {
		if f.target != "" {
			// Target file problems are usage errors: one line naming the field.
			return usageErr(stderr, "run", "%v", err)
		}
		fmt.Fprintf(stderr, "authconform run: %v\n", err)
		return exitFail
	}
	defer closeAll()
	if f.target != "" && f.profile != "all" && ctxs[0].Name() != profiles[0] {
		return usageErr(stderr, "run", "--profile %s but the target file says profile %s; drop --profile or fix the file", f.profile, ctxs[0].Name())
	}
	if f.target != "" {
		if ok, _ := framework.Selects(filter, []spec.ProfileName{ctxs[0].Name()}); !ok {
			return usageErr(stderr, "run", "--label-filter %q selects no check of the target's profile %s", filter, ctxs[0].Name())
		}
		if f.list {
			return listChecks(stdout, filter, []spec.ProfileName{ctxs[0].Name()})
		}
	}

	// Preflight (SPEC.md §4): does the target file describe the target?
	var problems []string
	for _, c := range ctxs {
		for _, p := range c.Preflight(ctx) {
			problems = append(problems, fmt.Sprintf("%s: %s", c.Name(), p))
		}
	}
	if len(problems) > 0 {
		src := "the embedded reference"
		if f.target != "" {
			src = f.target
		}
		fmt.Fprintf(stderr, "authconform run: preflight failed for %s; no check was run:\n", src)
		for _, p := range problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return framework.ExitPreflight
	}

	rep := &framework.RunReport{Suite: "authconform", Version: version, Env: envNames(ctxs), Targets: map[string]string{},
		Faults: f.faults, Variants: f.variants, LabelFilter: filter, Strict: f.strict, RequireAll: f.requireAll, Expectations: f.expect, Start: time.Now().UTC()}
	for _, c := range ctxs {
		rep.Profiles = append(rep.Profiles, string(c.Name()))
		rep.Targets[string(c.Name())] = c.Target().BaseURL
	}
	secrets := env.Secrets(ctxs)
	out := stdout
	if stdoutUsers > 0 {
		// stdout carries a report: progress and summary go to stderr.
		out = stderr
	}
	progress := out
	fmt.Fprintf(out, "authconform %s: checking %s (%s environment)\n", version, strings.Join(rep.Profiles, ", "), rep.Env)
	restore := func() {}
	if !f.verbose {
		// Ginkgo's reporter writes to the process's stdout; our own progress
		// lines and summary replace it, so silence it for the run.
		var silenced io.Writer
		silenced, restore = silenceStdout(stdout)
		if progress == stdout {
			progress = silenced
		}
	}
	gr, agg := framework.Run(failRecorder{}, ctxs, framework.RunOptions{LabelFilter: filter, Progress: progress, Secrets: secrets, Timeout: f.timeout, Verbose: f.verbose})
	restore()
	rep.End = time.Now().UTC()
	if ctx.Err() != nil && !agg.Interrupted {
		agg.Ended, agg.Interrupted = "the run was interrupted by a signal", true
	}
	if agg.Interrupted {
		rep.Interrupted = agg.Ended
	}
	rep.Checks = agg.Collect(gr, ctxs)
	framework.SortChecks(rep.Checks)
	framework.ApplyExpectations(rep.Checks, exps)
	rep.Summary = framework.Summarize(rep.Checks, rep.Profiles, f.strict, rep.Interrupted)
	rep.Verdict = framework.RunVerdict(rep.Summary)
	rep.Gate = framework.RunGate(rep.Summary)
	framework.PrintSummary(out, rep.Summary)
	if agg.Ended != "" {
		fmt.Fprintf(out, "run ended early: %s; the checks it kept from running are not-run\n", agg.Ended)
	}

	for _, w := range []struct {
		path  string
		write func(string, *framework.RunReport) error
	}{{f.jsonOut, report.WriteJSON}, {f.junit, report.WriteJUnit}, {f.html, report.WriteHTML}, {f.writeExpect, writeExpectations}} {
		if w.path == "" {
			continue
		}
		if err := writeOut(w.path, stdout, func(p string) error { return w.write(p, rep) }); err != nil {
			fmt.Fprintf(stderr, "authconform run: %v\n", err)
			return exitFail
		}
		if w.path != "-" {
			fmt.Fprintf(out, "wrote %s\n", w.path)
		}
	}
	return framework.ExitCode(rep.Gate, f.requireAll)
}

// writeExpectations writes the run's failures as an expectations file.
func writeExpectations(path string, rep *framework.RunReport) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := framework.WriteExpectations(fh, rep.Checks, rep.End); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// writeOut calls write with path, or, for "-", with a temporary file whose
// contents then go to stdout (the report writers take file names).
func writeOut(path string, stdout io.Writer, write func(string) error) error {
	if path != "-" {
		return write(path)
	}
	dir, err := os.MkdirTemp("", "authconform-out-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := dir + "/out"
	if err := write(tmp); err != nil {
		return err
	}
	fh, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer fh.Close()
	_, err = io.Copy(stdout, fh)
	return err
}

// listChecks prints the checks the filter selects for profiles, one line
// each, without running anything (run --list).
func listChecks(w io.Writer, filter string, profiles []spec.ProfileName) int {
	sel, err := types.ParseLabelFilter(filter)
	if err != nil {
		return exitUsage
	}
	n := 0
	for _, p := range profiles {
		for _, ch := range spec.ChecksFor(p) {
			selected := false
			for _, l := range []spec.Level{ch.LevelFor(p), spec.SHOULD} {
				labels := []string{framework.CheckLabel(ch.ID), framework.LevelLabel(l), framework.AreaLabel(ch.Area), framework.ProfileLabel(p)}
				for _, nd := range ch.Needs {
					labels = append(labels, framework.NeedLabel(nd))
				}
				selected = selected || sel(labels)
			}
			if selected {
				fmt.Fprintf(w, "%-14s %-9s %-6s %s\n", p, ch.ID, ch.LevelFor(p), ch.Title)
				n++
			}
		}
	}
	fmt.Fprintf(w, "%d checks selected (label filter %q)\n", n, filter)
	return exitOK
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*[A-Za-z]")

// stripANSI removes terminal colour codes (Ginkgo colours its label-filter
// errors; NO_COLOR or not, a one-line error has none).
func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

func profileList(ps []spec.ProfileName) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// envNames lists the distinct environments of the contexts ("embedded",
// "embedded+exec", ...).
func envNames(ctxs []*framework.Ctx) string {
	var out []string
	for _, c := range ctxs {
		if n := c.Env.Name(); !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, "+")
}

// failRecorder satisfies Ginkgo's GinkgoTestingT outside go test; the
// verdict comes from our own summary, not from Ginkgo's pass/fail.
type failRecorder struct{}

func (failRecorder) Fail() {}
