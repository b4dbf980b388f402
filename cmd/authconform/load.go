package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

func init() {
	register("load", command{summary: "load-test an auth path (key-valid, ratelimit, mqtt-connect, ...) of the reference or your implementation", run: loadCmd})
}

// thresholdsFlag is the repeatable --threshold, parsed as it is set so that
// a bad expression is a usage error naming it.
type thresholdsFlag []loadgen.Threshold

func (t *thresholdsFlag) String() string { return "" }
func (t *thresholdsFlag) Set(v string) error {
	th, err := loadgen.ParseThreshold(v)
	if err != nil {
		return err
	}
	*t = append(*t, th)
	return nil
}

type loadFlags struct {
	rate, ramp, target, profile     string
	jsonOut, results, html          string
	baseline, tolerance, shard      string
	duration, timeout, lateAfter    time.Duration
	connections, workers, maxWorker int
	quiet                           bool
	startAt, profileFile            string
	engine                          string
	faults                          stringsFlag
	thresholds                      thresholdsFlag
}

// parseInterleaved parses flags and at most one positional argument in
// any order (`load key-valid --rate 10` and `load --rate 10 key-valid`).
func parseInterleaved(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	for {
		if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

var loadUsage = `Usage: authconform load SCENARIO [flags]   (docs/load.md)

Scenarios:
` + loadgen.Usage() + `
Exit codes: 0 fine; 1 a threshold or the baseline breached (every run has
the gate errors<=0.01: more than 1% of requests without any answer, e.g. a
target that died, fails it; --threshold 'errors<=X' overrides), or the
attack was interrupted; 2 usage error.

`

func loadCmd(args []string, stdout, stderr io.Writer) int {
	var f loadFlags
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&f.rate, "rate", "", "constant rate, e.g. 1000 or 1000/s (default: per scenario: 500/s for key-*, jwt-verify, refresh; login 10/s; provision-race 80/s; mqtt-connect 100/s; ratelimit 20× the key's limit)")
	fs.StringVar(&f.ramp, "ramp", "", "linear ramp FROM:TO over --duration, e.g. 100:5000 (instead of --rate)")
	fs.DurationVar(&f.duration, "duration", 0, "attack duration (default 5s; ratelimit: 3.5 windows, at least 5s)")
	fs.IntVar(&f.connections, "connections", loadgen.DefaultConnections, "maximum connections to the target (0: unlimited)")
	fs.IntVar(&f.workers, "workers", loadgen.DefaultWorkers, "initial attacker workers of the vegeta engine (more are started to keep the rate)")
	fs.IntVar(&f.maxWorker, "max-workers", 0, "maximum attacker workers of the vegeta engine (0: unlimited)")
	fs.StringVar(&f.engine, "engine", loadgen.EngineAuto, "who sends the requests: fast (authconform's open-loop HTTP/1.1 client: key-*, jwt-verify, login, ratelimit on http:// targets), vegeta (vegeta's attacker: every scenario), or auto (fast where it can)")
	fs.StringVar(&f.target, "target", "", "target file (YAML/JSON) of YOUR implementation; default: the embedded reference")
	fs.StringVar(&f.profile, "profile", "", "profile of the embedded reference (default: the first built-in profile that can serve the scenario)")
	fs.StringVar(&f.profileFile, "profile-file", "", "a profile document (docs/PROFILES.md): the embedded reference serves it, or --target's file names it")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON report (vegeta's shape plus p999, asked_rate, slip, late) to this file ('-': stdout, the text report then goes to stderr)")
	fs.StringVar(&f.results, "results", "", "write vegeta binary results (readable by 'vegeta report' and 'authconform report') to this file ('-': stdout, the text report then goes to stderr)")
	fs.StringVar(&f.html, "html", "", "write vegeta's HTML latency plot to this file")
	fs.Var(&f.thresholds, "threshold", "gate, repeatable: p50|p90|p95|p99|p999|max|mean < or <= DURATION; success|rate|throughput >= or > NUMBER (rate may be F*asked); e.g. p99<5ms, success>=0.999, rate>=0.99*asked; errors<=X (requests without any answer) defaults to "+loadgen.DefaultErrorsThreshold)
	fs.StringVar(&f.baseline, "baseline", "", "a previous --json report: exit 1 on a regression beyond --tolerance")
	fs.StringVar(&f.tolerance, "tolerance", "10%", "allowed regression against --baseline, e.g. 10% or 0.1")
	fs.StringVar(&f.shard, "shard", "0/1", "run shard i of N (0-based, e.g. $JOB_COMPLETION_INDEX/4): rate/N and this shard's credentials")
	fs.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout")
	fs.DurationVar(&f.lateAfter, "late-after", loadgen.DefaultLateAfter, "a request leaving later than this after its planned time counts as late")
	fs.BoolVar(&f.quiet, "quiet", false, "no live progress on stderr")
	fs.Var(&f.faults, "fault", "start the embedded reference with this deliberate defect (repeatable), e.g. racy-rate-limiter; 'authconform reference --help' lists them")
	fs.StringVar(&f.startAt, "start-at", "", "start the attack (after logins and other set-up) at this RFC 3339 time, so that shards start together, e.g. 2026-11-23T12:00:00Z")
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprint(stdout, loadUsage)
			break
		}
	}
	pos, code, ok := parseInterleaved(fs, args, stdout, stderr)
	if !ok {
		return code
	}
	bad := func(format string, a ...any) int { return usageErr(stderr, "load", format, a...) }
	if len(pos) == 0 {
		return bad("missing SCENARIO; use one of %s, e.g. 'authconform load key-valid --rate 1000'", strings.Join(loadgen.Scenarios, ", "))
	}
	if len(pos) > 1 {
		return bad("unexpected argument %q; give one SCENARIO and flags", pos[1])
	}
	scenario := pos[0]
	sc, known := loadgen.Lookup(scenario)
	if !known {
		return bad("unknown scenario %q; use one of %s", scenario, strings.Join(loadgen.Scenarios, ", "))
	}
	if f.rate != "" && f.ramp != "" {
		return bad("--rate and --ramp exclude each other; give one")
	}
	var rateV, fromV, toV float64
	var err error
	if f.rate != "" {
		if rateV, err = loadgen.ParseRate(f.rate); err != nil {
			return bad("--rate %s: %v; e.g. --rate 1000", f.rate, err)
		}
	}
	if f.ramp != "" {
		if fromV, toV, err = loadgen.ParseRamp(f.ramp); err != nil {
			return bad("--ramp %s: %v", f.ramp, err)
		}
	}
	if f.duration < 0 || (f.duration == 0 && isSet(fs, "duration")) {
		return bad("--duration %s must be positive, e.g. --duration 10s", f.duration)
	}
	if f.connections < 0 {
		return bad("--connections %d must be 0 (unlimited) or more", f.connections)
	}
	if f.workers < 1 {
		return bad("--workers %d must be at least 1", f.workers)
	}
	if f.maxWorker < 0 || (f.maxWorker > 0 && f.maxWorker < f.workers) {
		return bad("--max-workers %d must be 0 (unlimited) or at least --workers (%d)", f.maxWorker, f.workers)
	}
	switch f.engine {
	case loadgen.EngineAuto, loadgen.EngineFast, loadgen.EngineVegeta:
	default:
		return bad("--engine %q: use auto, fast or vegeta", f.engine)
	}
	if f.timeout <= 0 {
		return bad("--timeout %s must be positive, e.g. --timeout 10s", f.timeout)
	}
	if f.lateAfter <= 0 {
		return bad("--late-after %s must be positive, e.g. --late-after 1ms", f.lateAfter)
	}
	var startAt time.Time
	if f.startAt != "" {
		if startAt, err = time.Parse(time.RFC3339, f.startAt); err != nil {
			return bad("--start-at %q is not an RFC 3339 time; write it as 2026-11-23T12:00:00Z", f.startAt)
		}
		if time.Until(startAt) > 24*time.Hour {
			return bad("--start-at %s is more than a day away; give a time in the next minutes", f.startAt)
		}
	}
	shard, err := loadgen.ParseShard(f.shard)
	if err != nil {
		return bad("--shard %v", err)
	}
	tol, err := loadgen.ParseTolerance(f.tolerance)
	if err != nil {
		return bad("--tolerance %v", err)
	}
	var base *loadgen.Report
	if f.baseline != "" {
		if base, err = loadgen.LoadBaseline(f.baseline); err != nil {
			return bad("--baseline %v", err)
		}
		if base.Scenario != "" && base.Scenario != scenario {
			return bad("--baseline %s is a report of scenario %s, not %s; give a baseline of the same scenario", f.baseline, base.Scenario, scenario)
		}
	}
	textOut, err := stdoutUse(stdout, stderr, map[string]string{"json": f.jsonOut, "results": f.results, "html": f.html})
	if err != nil {
		return bad("%v", err)
	}
	if f.profileFile != "" {
		p, err := spec.LoadProfile(f.profileFile)
		if err != nil {
			return bad("--profile-file %v", err)
		}
		if f.profile == "" && f.target == "" {
			f.profile = string(p.Name)
		}
	}
	if f.profile != "" {
		if _, err := spec.Get(spec.ProfileName(f.profile)); err != nil {
			return bad("--profile %q is not a profile; use one of %s", f.profile, strings.Join(spec.Names(), ", "))
		}
	}

	if len(f.faults) > 0 && f.target != "" {
		return bad("--fault starts the embedded reference with a defect; it cannot be combined with --target")
	}
	for _, name := range f.faults {
		if _, err := reference.LookupFault(name); err != nil {
			return bad("--fault %q is not a known fault; 'authconform reference --help' lists them", name)
		}
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	var target *spec.Target
	kind := "file"
	if f.target != "" {
		if target, err = spec.LoadTarget(f.target); err != nil {
			return bad("--target %v", err)
		}
		if f.profile != "" && spec.ProfileName(f.profile) != target.Profile {
			return bad("--profile %s but the target file says profile %s; drop --profile or fix the file", f.profile, target.Profile)
		}
	} else {
		kind = "embedded"
		prof := spec.ProfileName(f.profile)
		if prof == "" {
			// The first built-in profile that can serve the scenario.
			need := sc.Needs
			prof = spec.AllProfiles[0]
			for _, p := range spec.AllProfiles {
				if spec.MustGet(p).Can(need) {
					prof = p
					break
				}
			}
		}
		// Not ctx: on an interrupt the reference must keep answering
		// while the attack stops (its in-flight requests would otherwise
		// read as a dead target); the deferred Close ends it.
		run, err := reference.Start(context.Background(), reference.Config{Profile: prof, Faults: f.faults, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, "127.0.0.1:0")
		if err != nil {
			fmt.Fprintf(stderr, "authconform load: starting the embedded reference: %s\n", spec.OneLine(err.Error()))
			return exitFail
		}
		defer run.Close()
		target = run.Target
	}

	dur := f.duration
	if dur == 0 {
		dur = sc.Duration(target)
	}
	var pace loadgen.Pace
	switch {
	case f.ramp != "":
		pace = loadgen.Linear(fromV, toV, dur)
	case f.rate != "":
		pace = loadgen.Constant(rateV, dur)
	default:
		pace = loadgen.Constant(sc.Rate(target), dur)
	}

	if pace.Hits() == 0 {
		return bad("%s plans no request; raise --rate or --duration", describePlan(pace))
	}
	cfg := loadgen.Config{
		Scenario: scenario, Target: target, TargetKind: kind, Pace: pace, Shard: shard,
		Connections: f.connections, Workers: uint64(f.workers), MaxWorkers: uint64(f.maxWorker),
		Timeout: f.timeout, LateAfter: f.lateAfter, StartAt: startAt, Engine: f.engine,
	}
	if !f.quiet {
		cfg.Progress = stderr
	}
	var files []*os.File
	open := func(name, flagName string) (io.Writer, bool) {
		if name == "-" {
			return stdout, true
		}
		fh, err := os.Create(name)
		if err != nil {
			usageErr(stderr, "load", "--%s %s: cannot create: %v", flagName, name, errors.Unwrap(err))
			return nil, false
		}
		files = append(files, fh)
		return fh, true
	}
	defer func() {
		for _, fh := range files {
			fh.Close()
		}
	}()
	if f.results != "" {
		fh, ok := open(f.results, "results")
		if !ok {
			return exitUsage
		}
		cfg.Results = fh
	}
	if f.html != "" {
		fh, ok := open(f.html, "html")
		if !ok {
			return exitUsage
		}
		cfg.HTML = fh
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil && rep == nil {
		if errors.Is(err, loadgen.ErrUsage) {
			return bad("%s", strings.TrimPrefix(spec.Mask(err.Error(), target.Secrets()), loadgen.ErrUsage.Error()+": "))
		}
		fmt.Fprintf(stderr, "authconform load: %s\n", spec.OneLine(spec.Mask(err.Error(), target.Secrets())))
		return exitFail
	}
	return finishReport(rep, err, f.jsonOut, f.thresholds, base, tol, target.Secrets(), textOut, stdout, stderr, "load")
}

func describePlan(p loadgen.Pace) string {
	if p.Ramp {
		return fmt.Sprintf("--ramp %g:%g over --duration %s", p.From, p.To, p.Duration)
	}
	return fmt.Sprintf("--rate %g for --duration %s", p.From, p.Duration)
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// stdoutUse checks that at most one output flag (name → value) is "-"
// (stdout) and returns where the text report goes: stdout, or stderr when
// stdout carries a file.
func stdoutUse(stdout, stderr io.Writer, outs map[string]string) (io.Writer, error) {
	var dash []string
	for _, name := range []string{"json", "results", "html"} {
		if outs[name] == "-" {
			dash = append(dash, "--"+name)
		}
	}
	switch len(dash) {
	case 0:
		return stdout, nil
	case 1:
		return stderr, nil
	}
	return nil, fmt.Errorf("%s all ask for stdout; give at most one of them as '-' and the others a file name", strings.Join(dash, " and "))
}

// finishReport masks, gates, prints and writes a report; it returns the
// exit code (1 on a breached threshold or baseline, or a failed run).
// Unless ths has an errors threshold, the default one applies. The text
// report goes to textOut; jsonOut "-" is stdout.
func finishReport(rep *loadgen.Report, runErr error, jsonOut string, ths []loadgen.Threshold, base *loadgen.Report, tol float64, secrets []string, textOut, stdout, stderr io.Writer, cmd string) int {
	for i, e := range rep.Errors {
		rep.Errors[i] = spec.Mask(e, secrets)
	}
	for i, n := range rep.Notes {
		rep.Notes[i] = spec.Mask(n, secrets)
	}
	if rep.TargetLost != nil {
		rep.TargetLost.Error = spec.Mask(rep.TargetLost.Error, secrets)
	}
	if !loadgen.HasErrorsThreshold(ths) {
		def, _ := loadgen.ParseThreshold(loadgen.DefaultErrorsThreshold)
		def.Expr += " (default; override with --threshold 'errors<=X')"
		ths = append(append([]loadgen.Threshold{}, ths...), def)
	}
	ok := loadgen.Gate(rep, ths)
	if base != nil {
		ok = loadgen.CompareBaseline(rep, base, tol) && ok
	}
	if err := rep.WriteText(textOut); err != nil {
		fmt.Fprintf(stderr, "authconform %s: %v\n", cmd, err)
		return exitFail
	}
	if jsonOut == "-" {
		if err := rep.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "authconform %s: writing the JSON report: %v\n", cmd, err)
			return exitFail
		}
	} else if jsonOut != "" {
		fh, err := os.Create(jsonOut)
		if err != nil {
			return usageErr(stderr, cmd, "--json %s: cannot create: %v", jsonOut, errors.Unwrap(err))
		}
		werr := rep.WriteJSON(fh)
		if cerr := fh.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			fmt.Fprintf(stderr, "authconform %s: writing %s: %v\n", cmd, jsonOut, werr)
			return exitFail
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "authconform %s: interrupted: %v; sent %d of %d planned requests\n", cmd, runErr, rep.Sent, rep.Planned)
		return exitFail
	}
	if !ok {
		var breached []string
		for _, t := range rep.Thresholds {
			if !t.Pass {
				breached = append(breached, t.Expr)
			}
		}
		for _, b := range rep.Baseline {
			if !b.Pass {
				breached = append(breached, "baseline "+b.Metric)
			}
		}
		fmt.Fprintf(stderr, "authconform %s: breached: %s\n", cmd, strings.Join(breached, ", "))
		return exitFail
	}
	return exitOK
}
