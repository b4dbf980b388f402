// Package gotest is the go test entry point of the area packages under
// suites/: every suite_test.go calls Run (or RunGoTest). It is the only
// package of the environments that links the testing package, so that the
// authconform binary does not.
package gotest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconform/authconform/env"
	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/gate"
	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// Config is what a suite_test.go may change; the zero value is what
// RunGoTest uses.
type Config struct {
	// Profiles when AUTHCONFORM_PROFILE is unset (nil = every profile).
	Profiles []spec.ProfileName
	// LabelFilter when AUTHCONFORM_LABEL_FILTER and -ginkgo.label-filter
	// are unset ("" = the framework's default filter).
	LabelFilter string
	// Env is the environment for the embedded reference (env.Env*; ""
	// = embedded). AUTHCONFORM_MQTT_ENV overrides it.
	Env string
}

// RunGoTest runs the specs linked into the test binary with the zero
// Config: see Run.
func RunGoTest(t *testing.T) { Run(t, Config{}) }

// Run runs the specs linked into the test binary against the embedded
// reference for every profile, or against AUTHCONFORM_TARGET (a target
// file) when set. The environment variables, all optional:
//
//	AUTHCONFORM_TARGET        target file of a running implementation; a relative
//	                          path is tried in the package directory, then in the
//	                          module root (where `go test ./...` is typed)
//	AUTHCONFORM_PROFILE       comma-separated profiles (default: all)
//	AUTHCONFORM_FAULTS        comma-separated reference faults (mutants)
//	AUTHCONFORM_VARIANTS      comma-separated conformant variants
//	AUTHCONFORM_LABEL_FILTER  Ginkgo label filter (else -ginkgo.label-filter, else the default)
//	AUTHCONFORM_MQTT_ENV      exec or containers: the reference with a real Mosquitto
//	AUTHCONFORM_STRICT=1      a failed SHOULD check fails the test
//	AUTHCONFORM_REQUIRE_ALL=1 an incomplete run fails the test
//	AUTHCONFORM_REQUIRE_CONTAINERS=1  a missing broker, plugin or Docker fails instead of skipping
//
// The verdict follows SPEC.md §4 as in the CLI: the test fails when the
// run is non-conformant (a MUST check failed or was error) or interrupted,
// when preflight fails, or when the label filter selects nothing; every
// check's line is logged.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	profiles := spec.AllProfiles
	if cfg.Profiles != nil {
		profiles = cfg.Profiles
	}
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
	if filter == "" {
		filter = cfg.LabelFilter
	}
	if ok, err := framework.Selects(filter, profiles); err != nil || !ok {
		t.Fatalf("AUTHCONFORM_LABEL_FILTER %q selects no check (%v)", filter, err)
	}
	target, err := TargetPath(os.Getenv("AUTHCONFORM_TARGET"))
	if err != nil {
		t.Fatal(err)
	}
	envName := cfg.Env
	if envName == "" {
		envName = env.EnvEmbedded
	}
	if m := os.Getenv("AUTHCONFORM_MQTT_ENV"); m != "" {
		if m != env.EnvExec && m != env.EnvContainers {
			t.Fatalf("AUTHCONFORM_MQTT_ENV=%q: want exec or containers", m)
		}
		envName = m
	}
	ctx := context.Background()
	if target == "" {
		switch envName {
		case env.EnvExec:
			gate.SkipUnless(t, mqttenv.ExecAvailable())
		case env.EnvContainers:
			gate.SkipUnless(t, mqttenv.ContainersAvailable(ctx, containers.DefaultReferenceImage, containers.DefaultMosquittoImage))
		}
	}
	ctxs, closeAll, err := env.Contexts(ctx, env.Options{Profiles: profiles, TargetPath: target, Faults: list("AUTHCONFORM_FAULTS"), Variants: list("AUTHCONFORM_VARIANTS"), Env: envName})
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
	gr, agg := framework.Run(recorder{}, ctxs, framework.RunOptions{LabelFilter: filter, Secrets: env.Secrets(ctxs), Verbose: testing.Verbose()})
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

// TargetPath resolves AUTHCONFORM_TARGET. go test runs a test binary in
// its package's directory, not where the user typed the command, so a
// relative path is tried there first and then in the module root (the
// nearest parent directory with a go.mod), which is where `go test ./...`
// is usually typed. An absolute path is used as it is.
func TargetPath(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) {
		return p, nil
	}
	if _, err := os.Stat(p); err == nil {
		return filepath.Abs(p)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("AUTHCONFORM_TARGET=%s: %v", p, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			cand := filepath.Join(dir, p)
			if _, err := os.Stat(cand); err == nil {
				return cand, nil
			}
			return "", fmt.Errorf("AUTHCONFORM_TARGET=%s: no such file in the package directory %s nor in the module root %s; give a path relative to the module root, or an absolute one", p, wd, dir)
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("AUTHCONFORM_TARGET=%s: no such file in %s (and no module root above it); give an absolute path", p, wd)
		}
	}
}

// recorder satisfies Ginkgo's GinkgoTestingT: the verdict comes from the
// aggregation (SPEC.md §4), not from Ginkgo's pass/fail, so a failed
// SHOULD spec does not fail go test unless strict.
type recorder struct{}

func (recorder) Fail() {}
