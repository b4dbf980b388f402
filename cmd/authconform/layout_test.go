package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/authconform/authconform"

// goList runs `go list` with a template over pkgs (in the module root).
func goList(t *testing.T, tmpl string, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-f", tmpl}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLayout keeps the architecture of docs/ARCHITECTURE.md: none of the
// project's packages linked into the authconform binary imports testing
// (third-party Ginkgo and testcontainers do, for their own T helpers), and
// no package under suites/ starts containers or environments (that is
// env/'s job), so a user checking an HTTP API links no Docker client
// through the specs.
func TestLayout(t *testing.T) {
	// testing is linked into the CLI only through these third-party
	// packages: ginkgo/v2's root package (GinkgoT, GinkgoTB; RunSpecs lives
	// there too, so a binary that runs specs links it) and
	// testcontainers' TestLogger. Their use of testing registers no flags
	// (testing.Init is never called), as TestNoTestFlags checks.
	thirdParty := map[string]bool{
		"github.com/onsi/ginkgo/v2":                       true,
		"github.com/testcontainers/testcontainers-go":     true,
		"github.com/testcontainers/testcontainers-go/log": true,
	}
	for _, line := range goList(t, `{{.ImportPath}} {{join .Imports " "}}`, "-deps", "./cmd/authconform") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, imp := range f[1:] {
			switch {
			case imp != "testing":
			case strings.HasPrefix(f[0], module):
				t.Errorf("%s is linked into the CLI and imports testing; move the testing code to a test-only package (env/gotest, env/gate)", f[0])
			case !thirdParty[f[0]]:
				t.Errorf("%s, a new third-party importer of testing, is linked into the CLI: find what pulls it in (go list -deps) or justify it here", f[0])
			}
		}
	}
	for _, line := range goList(t, `{{.ImportPath}} {{join .Deps " "}}`, "./suites/...") {
		f := strings.Fields(line)
		for _, dep := range f[1:] {
			if strings.HasPrefix(dep, "github.com/testcontainers/") || strings.HasPrefix(dep, module+"/env") || strings.HasPrefix(dep, "github.com/moby/") {
				t.Errorf("%s depends on %s: specs and the framework must not start environments or containers", f[0], dep)
				break
			}
		}
	}
}

// TestNoTestFlags: although Ginkgo links testing into the binary, the
// built CLI (not the test binary, which registers them itself) has none of
// its flags: -test.v, -test.run, ... are refused as unknown.
func TestNoTestFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the CLI")
	}
	bin := filepath.Join(t.TempDir(), "authconform")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"-test.v"}, {"run", "-test.run", "x"}, {"run", "-test.v"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("authconform %s: %v, want exit 2\n%s", strings.Join(args, " "), err, out)
		}
	}
	out, _ := exec.Command(bin, "help", "run").CombinedOutput()
	if strings.Contains(string(out), "test.") {
		t.Errorf("authconform help run mentions test. flags:\n%s", out)
	}
}
