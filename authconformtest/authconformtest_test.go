package authconformtest_test

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/authconform/authconform/authconformtest"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
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
