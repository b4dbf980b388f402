// Package envs resolves where the suites' targets come from: the embedded
// reference (default), or an external implementation described by a target
// file. The containers and exec environments live in suites/containers.
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
	"github.com/authconform/authconform/suites/framework"
)

// Embedded runs the reference in-process on 127.0.0.1. The suite controls
// it completely, so deployment-dependent checks run here.
type Embedded struct {
	profile spec.ProfileName
	faults  []string
	run     *reference.Running

	mu       sync.Mutex
	deployed []*reference.Running
}

// StartEmbedded starts the reference for profile p with the given faults.
func StartEmbedded(ctx context.Context, p spec.ProfileName, faults []string) (*Embedded, error) {
	r, err := reference.Start(ctx, reference.Config{Profile: p, Faults: faults}, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("envs: start embedded reference for %s: %w", p, err)
	}
	return &Embedded{profile: p, faults: faults, run: r}, nil
}

func (e *Embedded) Name() string         { return "embedded" }
func (e *Embedded) Target() *spec.Target { return e.run.Target }
func (e *Embedded) CanDeploy() bool      { return true }

// Deploy starts another in-process reference of the same profile, with the
// same faults, configured by the seed-003 deployment variables.
func (e *Embedded) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	// The instance outlives ctx (a BeforeAll's context ends when it returns).
	r, err := reference.Start(context.WithoutCancel(ctx), reference.Config{Profile: e.profile, Faults: e.faults, Env: vars}, "127.0.0.1:0")
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

// Contexts builds one framework context per profile: from the target file
// when path is set (its profile must be among profiles, or profiles is
// nil), else the embedded reference with faults. closeAll stops what was
// started.
func Contexts(ctx context.Context, profiles []spec.ProfileName, targetPath string, faults []string) (ctxs []*framework.Ctx, closeAll func(), err error) {
	var closers []func() error
	closeAll = func() {
		for _, c := range closers {
			_ = c()
		}
	}
	if targetPath != "" {
		env, err := External(targetPath)
		if err != nil {
			return nil, closeAll, err
		}
		p := spec.MustGet(env.T.Profile)
		return []*framework.Ctx{{Profile: p, Env: env}}, closeAll, nil
	}
	for _, name := range profiles {
		e, err := StartEmbedded(ctx, name, faults)
		if err != nil {
			closeAll()
			return nil, func() {}, err
		}
		closers = append(closers, e.Close)
		ctxs = append(ctxs, &framework.Ctx{Profile: spec.MustGet(name), Env: e})
	}
	return ctxs, closeAll, nil
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
// set. AUTHCONFORM_PROFILE narrows the profiles, AUTHCONFORM_FAULTS (comma
// separated) starts the reference with faults, AUTHCONFORM_LABEL_FILTER
// replaces the default label filter.
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
	var faults []string
	if f := os.Getenv("AUTHCONFORM_FAULTS"); f != "" {
		faults = strings.Split(f, ",")
	}
	ctxs, closeAll, err := Contexts(context.Background(), profiles, os.Getenv("AUTHCONFORM_TARGET"), faults)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	framework.Run(t, ctxs, framework.RunOptions{LabelFilter: os.Getenv("AUTHCONFORM_LABEL_FILTER"), Secrets: Secrets(ctxs), Verbose: testing.Verbose()})
}
