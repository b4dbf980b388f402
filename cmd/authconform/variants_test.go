package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/suites/framework"
)

// TestVariants is the dual of TestMutants: every conformant variant of the
// reference (an allowed difference, SPEC.md level discipline) is judged
// conformant on every profile it applies to: exit 0, no MUST check failed,
// no check error, and no SHOULD check failed that the variant does not
// declare (MayFailShould). A check that fails here fails a correct
// implementation: a defect of the suite.
func TestVariants(t *testing.T) {
	if testing.Short() {
		t.Skip("variant matrix skipped in -short mode")
	}
	for _, v := range reference.Variants() {
		for _, p := range v.Profiles {
			v, p := v, p
			t.Run(fmt.Sprintf("%s/%s", v.Name, p), func(t *testing.T) {
				t.Parallel()
				env := "embedded"
				if p == "iotistica" && mqttenv.ExecAvailable() == nil {
					env = "exec"
				}
				js := filepath.Join(t.TempDir(), "r.json")
				code, out, errOut := cli(t, "run", "--profile", string(p), "--env", env, "--variant", v.Name, "--json", js)
				if code != 0 {
					t.Errorf("run --variant %s --profile %s exited %d, want 0 (conformant)\n%s\n%s", v.Name, p, code, out, errOut)
				}
				r := readRunReport(t, js)
				assertNoSecrets(t, out+errOut, "output of --variant "+v.Name)
				for _, c := range r.Checks {
					switch {
					case c.Status == framework.Error:
						t.Errorf("variant %s: %s/%s is error on a correct implementation: %s", v.Name, c.Profile, c.ID, firstLine(c.Reason))
					case c.Status == framework.Failed && c.Level == "MUST":
						t.Errorf("variant %s: MUST check %s/%s fails a correct implementation: %s", v.Name, c.Profile, c.ID, firstLine(c.Reason))
					case c.Status == framework.Failed && !slices.Contains(v.MayFailShould, c.ID):
						t.Errorf("variant %s: SHOULD check %s/%s fails, and the variant does not declare it: %s", v.Name, c.Profile, c.ID, firstLine(c.Reason))
					}
				}
			})
		}
	}
}

// TestReadmeListsEveryVariant keeps the README's variant table in step
// with the reference's variant registry.
func TestReadmeListsEveryVariant(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range reference.Variants() {
		if row := fmt.Sprintf("| `%s` |", v.Name); !strings.Contains(string(b), row) {
			t.Errorf("README variant table lacks a row starting %q", row)
		}
	}
}
