package authconformtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconform/authconform/authconformtest"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// reference builds the reference for p: its handler, fixtures and a
// Deploy hook, as an implementer would pass their own.
func ref(t *testing.T, p spec.ProfileName) authconformtest.Target {
	t.Helper()
	srv, err := reference.New(reference.Config{Profile: p})
	if err != nil {
		t.Fatal(err)
	}
	return authconformtest.Target{
		Handler:  srv.Handler(),
		Fixtures: srv.Target(""),
		Deploy: func(vars map[string]string) (http.Handler, error) {
			d, err := reference.New(reference.Config{Profile: p, Env: vars})
			if err != nil {
				return nil, err
			}
			return d.Handler(), nil
		},
	}
}

// TestRunTwice runs the JWT area twice in one binary (Ginkgo allows one
// RunSpecs per process: each run is a child process).
func TestRunTwice(t *testing.T) {
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox} {
		authconformtest.Run(t, ref(t, p), authconformtest.Options{LabelFilter: "area:jwt", RequireAll: false})
	}
}

// TestDeps keeps Docker and testcontainers out of the package.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list -deps printed %d packages; expected the suite's", len(deps))
	}
	for _, d := range deps {
		for _, bad := range []string{"github.com/testcontainers", "github.com/moby", "github.com/docker"} {
			if strings.HasPrefix(d, bad) {
				t.Errorf("authconformtest links %s", d)
			}
		}
	}
}

// TestDeploy: with the Deploy hook the license checks run against fresh
// instances and pass; without it they are not-run and the run is
// incomplete (never conformant by omission).
func TestDeploy(t *testing.T) {
	opts := authconformtest.Options{LabelFilter: "LIC-001"}
	tg := ref(t, spec.Iotistica)
	with, err := authconformtest.Check(tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := result(t, with, "LIC-001"); got.Status != framework.Passed {
		t.Errorf("LIC-001 with Deploy: %s %s: %s", got.Status, got.SkipKind, got.Reason)
	}
	tg.Deploy = nil
	without, err := authconformtest.Check(tg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := result(t, without, "LIC-001"); got.Status != framework.Skipped || got.SkipKind != framework.NotRun {
		t.Errorf("LIC-001 without Deploy: %s %s, want skipped not-run", got.Status, got.SkipKind)
	}
	if without.Verdict != framework.Incomplete {
		t.Errorf("verdict without Deploy: %s, want incomplete", without.Verdict)
	}
}

// TestRunFileAndReports: a running server described by a target file,
// with the three reports written.
func TestRunFileAndReports(t *testing.T) {
	r, err := reference.Start(context.Background(), reference.Config{Profile: spec.Rigbox}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "target.yaml")
	if err := r.Target.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	o := authconformtest.Options{LabelFilter: "AUTH-001 || AUTH-002", JSONReport: filepath.Join(dir, "r.json"), JUnitReport: filepath.Join(dir, "r.xml"), HTMLReport: filepath.Join(dir, "r.html")}
	authconformtest.RunFile(t, path, o)
	b, err := os.ReadFile(o.JSONReport)
	if err != nil {
		t.Fatal(err)
	}
	var rep framework.RunReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if got := result(t, &rep, "AUTH-001"); got.Status != framework.Passed || rep.Targets[string(spec.Rigbox)] != r.URL {
		t.Errorf("JSON report: AUTH-001 %s, target %v (want %s)", got.Status, rep.Targets, r.URL)
	}
	for _, p := range []string{o.JUnitReport, o.HTMLReport} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("report %s: %v", p, err)
		}
	}
}

// TestUsageErrors name the field to fix.
func TestUsageErrors(t *testing.T) {
	tg := ref(t, spec.Roboticks)
	for _, tc := range []struct {
		tg   authconformtest.Target
		o    authconformtest.Options
		want string
	}{
		{authconformtest.Target{Handler: tg.Handler}, authconformtest.Options{}, "Target.Fixtures"},
		{authconformtest.Target{FixturesFile: filepath.Join(t.TempDir(), "nope.yaml")}, authconformtest.Options{}, "Target.FixturesFile"},
		{tg, authconformtest.Options{LabelFilter: "JWT-999"}, "Options.LabelFilter"},
		{tg, authconformtest.Options{LabelFilter: "(("}, "Options.LabelFilter"},
		{authconformtest.Target{Fixtures: tg.Fixtures}, authconformtest.Options{}, "Target: no server"},
	} {
		if _, err := authconformtest.Check(tc.tg, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v): %v, want an error naming %s", tc.o, err, tc.want)
		}
	}
}

// TestPreflight: a server that is not the implementation fails preflight.
func TestPreflight(t *testing.T) {
	tg := ref(t, spec.Roboticks)
	tg.Handler = http.NotFoundHandler()
	if _, err := authconformtest.Check(tg, authconformtest.Options{LabelFilter: "AUTH-001"}); !errors.Is(err, authconformtest.ErrPreflight) {
		t.Errorf("Check against a 404 handler: %v, want ErrPreflight", err)
	}
}

func result(t *testing.T, rep *framework.RunReport, id string) framework.CheckResult {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no %s in the report", id)
	return framework.CheckResult{}
}
