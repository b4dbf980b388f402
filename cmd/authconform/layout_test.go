package main

import (
	"os/exec"
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
	for _, line := range goList(t, `{{.ImportPath}} {{join .Imports " "}}`, "-deps", "./cmd/authconform") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], module) {
			continue
		}
		for _, imp := range f[1:] {
			if imp == "testing" {
				t.Errorf("%s is linked into the CLI and imports testing; move the testing code to a test-only package (env/gotest, env/gate)", f[0])
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
