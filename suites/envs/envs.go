// Package envs resolves where the suites' targets come from: the embedded
// reference (default), the reference with a real Mosquitto (exec or
// containers, from suites/containers/mqttenv), or an external
// implementation described by a target file.
package envs

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/containers"
	"github.com/authconform/authconform/suites/containers/mqttenv"
	"github.com/authconform/authconform/suites/framework"
)

// Embedded runs the reference in-process on 127.0.0.1. The suite controls
// it completely, so deployment-dependent checks run here.
type Embedded struct {
	profile  spec.ProfileName
	faults   []string
	variants []string
	run      *reference.Running

	mu       sync.Mutex
	deployed []*reference.Running
}

// StartEmbedded starts the reference for profile p with the given faults
// and conformant variants.
func StartEmbedded(ctx context.Context, p spec.ProfileName, faults []string, variants ...string) (*Embedded, error) {
	r, err := reference.Start(ctx, reference.Config{Profile: p, Faults: faults, Variants: variants}, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("envs: start embedded reference for %s: %w", p, err)
	}
	return &Embedded{profile: p, faults: faults, variants: variants, run: r}, nil
}

func (e *Embedded) Name() string         { return "embedded" }
func (e *Embedded) Target() *spec.Target { return e.run.Target }
func (e *Embedded) CanDeploy() bool      { return true }

// Deploy starts another in-process reference of the same profile, with the
// same faults, configured by the seed-003 deployment variables.
func (e *Embedded) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	// The instance outlives ctx (a BeforeAll's context ends when it returns).
	r, err := reference.Start(context.WithoutCancel(ctx), reference.Config{Profile: e.profile, Faults: e.faults, Variants: e.variants, Env: vars}, "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("envs: deploy %s: %w", e.profile, err)
	}
	e.mu.Lock()
	e.deployed = append(e.deployed, r)
	e.mu.Unlock()
	return r.Target, func() { _ = r.Close() }, nil
}

// Close stops the reference and every deployment.
func (e *Embedded) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.deployed {
		_ = d.Close()
	}
	return e.run.Close()
}

// External is a running implementation described by a target file.
func External(path string) (*framework.StaticEnv, error) {
	t, err := spec.LoadTarget(path)
	if err != nil {
		return nil, err
	}
	return &framework.StaticEnv{T: t, EnvName: "external"}, nil
}

// Environment names accepted by Options.Env.
const (
	EnvAuto       = "auto"       // embedded, with a real broker (exec) for iotistica when mosquitto and the plugin are present
	EnvEmbedded   = "embedded"   // reference in-process, no broker: MQTT checks skip with a reason
	EnvExec       = "exec"       // iotistica: reference in-process + the host's mosquitto with the plugin
	EnvContainers = "containers" // iotistica: reference image + Mosquitto image under testcontainers
	EnvExternal   = "external"   // a running implementation described by a target file
)

// Options select where the targets come from.
type Options struct {
	Profiles []spec.ProfileName
	// TargetPath is a target file (external environment).
	TargetPath string
	// Faults start the reference (and, for mqtt-fail-open, the broker)
	// with deliberate defects.
	Faults []string
	// Variants start the reference with conformant variants.
	Variants []string
	// Env is one of the Env* names ("" = auto).
	Env string
	// Image is the implementation image for the containers environment
	// ("" = the reference image); BrokerImage the Mosquitto image.
	Image, BrokerImage string
	// Note receives one line per environment decision (nil = discard).
	Note func(format string, a ...any)
}

type closer interface {
	framework.Env
	Close() error
}

// Contexts builds one framework context per profile: from the target file
// when o.TargetPath is set, else from the embedded reference, with a real
// Mosquitto for iotistica in the exec and containers environments.
// closeAll stops everything that was started (containers included).
func Contexts(ctx context.Context, o Options) (ctxs []*framework.Ctx, closeAll func(), err error) {
	note := o.Note
	if note == nil {
		note = func(string, ...any) {}
	}
	var closers []func() error
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i]()
		}
	}
	if o.TargetPath != "" {
		env, err := External(o.TargetPath)
		if err != nil {
			return nil, closeAll, err
		}
		p := spec.MustGet(env.T.Profile)
		return []*framework.Ctx{{Profile: p, Env: env}}, closeAll, nil
	}
	for _, name := range o.Profiles {
		var e closer
		var err error
		switch {
		case name == spec.Iotistica && o.Env == EnvContainers:
			if err = mqttenv.ContainersAvailable(ctx, orDefault(o.Image, containers.DefaultReferenceImage), orDefault(o.BrokerImage, containers.DefaultMosquittoImage)); err != nil {
				err = fmt.Errorf("envs: containers environment unavailable: %w (build the images with 'make images')", err)
				break
			}
			e, err = mqttenv.StartContainers(ctx, name, o.Faults, o.Image, o.BrokerImage)
		case name == spec.Iotistica && o.Env == EnvExec:
			if err = mqttenv.ExecAvailable(); err != nil {
				err = fmt.Errorf("envs: exec environment unavailable: %w (apt-get install mosquitto mosquitto-dev gcc; make plugin)", err)
				break
			}
			e, err = mqttenv.StartExec(ctx, name, o.Faults, o.Variants...)
		case name == spec.Iotistica && (o.Env == EnvAuto || o.Env == ""):
			if aerr := mqttenv.ExecAvailable(); aerr == nil {
				e, err = mqttenv.StartExec(ctx, name, o.Faults, o.Variants...)
			} else {
				note("iotistica: no local broker (%v); the MQTT checks will be skipped with their reason", aerr)
				e, err = StartEmbedded(ctx, name, o.Faults, o.Variants...)
			}
		default:
			e, err = StartEmbedded(ctx, name, o.Faults, o.Variants...)
		}
		if err != nil {
			if e != nil {
				closers = append(closers, e.Close)
			}
			closeAll()
			return nil, func() {}, err
		}
		closers = append(closers, e.Close)
		ctxs = append(ctxs, &framework.Ctx{Profile: spec.MustGet(name), Env: e})
	}
	return ctxs, closeAll, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// Secrets collects every secret of the contexts' targets for masking.
func Secrets(ctxs []*framework.Ctx) []string {
	var out []string
	for _, c := range ctxs {
		out = append(out, c.Target().Secrets()...)
	}
	return out
}

// RunGoTest is the entry point of every area package's suite_test.go: it
// runs the specs linked into the test binary against the embedded reference
// for every profile, or against AUTHCONFORM_TARGET (a target file) when
// set. AUTHCONFORM_PROFILE narrows the profiles, AUTHCONFORM_FAULTS and
// AUTHCONFORM_VARIANTS (comma separated) start the reference with faults
// or conformant variants, AUTHCONFORM_LABEL_FILTER replaces the default
// label filter, AUTHCONFORM_STRICT=1 fails on SHOULD findings and
// AUTHCONFORM_REQUIRE_ALL=1 on an incomplete run.
//
// The verdict follows SPEC.md §4 as in the CLI: the test fails when the
// run is non-conformant (a MUST check failed or was error) or interrupted,
// when preflight fails, or when the label filter selects nothing; every
// check's line is logged.
func RunGoTest(t *testing.T) {
	t.Helper()
	profiles := spec.AllProfiles
	if p := os.Getenv("AUTHCONFORM_PROFILE"); p != "" {
		ps, err := spec.ParseProfiles(p)
		if err != nil {
			t.Fatalf("AUTHCONFORM_PROFILE: %v", err)
		}
		profiles = ps
	}
	list := func(name string) []string {
		if v := os.Getenv(name); v != "" {
			return strings.Split(v, ",")
		}
		return nil
	}
	filter := os.Getenv("AUTHCONFORM_LABEL_FILTER")
	if ok, err := framework.Selects(filter, profiles); err != nil || !ok {
		t.Fatalf("AUTHCONFORM_LABEL_FILTER %q selects no check (%v)", filter, err)
	}
	ctx := context.Background()
	ctxs, closeAll, err := Contexts(ctx, Options{Profiles: profiles, TargetPath: os.Getenv("AUTHCONFORM_TARGET"), Faults: list("AUTHCONFORM_FAULTS"), Variants: list("AUTHCONFORM_VARIANTS"), Env: EnvEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	for _, c := range ctxs {
		if ps := c.Preflight(ctx); len(ps) > 0 {
			for _, p := range ps {
				t.Errorf("preflight: %s: %s", c.Name(), p)
			}
			t.FailNow()
		}
	}
	var names []string
	for _, c := range ctxs {
		names = append(names, string(c.Name()))
	}
	gr, agg := framework.Run(recorder{}, ctxs, framework.RunOptions{LabelFilter: filter, Secrets: Secrets(ctxs), Verbose: testing.Verbose()})
	checks := agg.Collect(gr, ctxs)
	framework.SortChecks(checks)
	for _, cr := range checks {
		if cr.Status != framework.Skipped || cr.SkipKind != framework.NotSelected {
			t.Log(framework.CheckLine(cr))
		}
	}
	interrupted := ""
	if agg.Interrupted {
		interrupted = agg.Ended
	}
	sums := framework.Summarize(checks, names, os.Getenv("AUTHCONFORM_STRICT") == "1", interrupted)
	verdict := framework.RunVerdict(sums)
	if code := framework.ExitCode(verdict, os.Getenv("AUTHCONFORM_REQUIRE_ALL") == "1"); code != 0 {
		for _, cr := range checks {
			if cr.Status == framework.Failed || cr.Status == framework.Error {
				t.Errorf("%s %s %s %s: %s", cr.Status, cr.Profile, cr.ID, cr.Level, cr.Reason)
			}
		}
		t.Errorf("verdict: %s", verdict)
	}
}

// recorder satisfies Ginkgo's GinkgoTestingT: the verdict comes from the
// aggregation (SPEC.md §4), not from Ginkgo's pass/fail, so a failed
// SHOULD spec does not fail go test unless strict.
type recorder struct{}

func (recorder) Fail() {}
