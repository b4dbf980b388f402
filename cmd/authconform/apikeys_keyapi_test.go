package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// TestKeyAPIUndeclared runs the apikeys area against the reference with
// key management at other paths (variant alt-key-paths) as an external
// target: with the target file's keyAPI the key-lifecycle checks pass;
// without it the reference's paths answer 404, which makes KEY-001 and
// KEY-002 skipped/not-applicable, never failed or error.
func TestKeyAPIUndeclared(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance runs skipped in -short mode")
	}
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox, spec.RequestRocket} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			run, err := reference.Start(ctx, reference.Config{Profile: p, Variants: []string{reference.VariantAltKeyPaths}}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			if run.Target.KeyAPI == nil {
				t.Fatalf("the alt-key-paths reference's target declares no keyAPI")
			}
			dir := t.TempDir()
			for _, declared := range []bool{true, false} {
				tg := *run.Target
				if !declared {
					tg.KeyAPI = nil
				}
				file := filepath.Join(dir, fmt.Sprintf("target-%v.yaml", declared))
				if err := tg.WriteFile(file); err != nil {
					t.Fatal(err)
				}
				js := filepath.Join(dir, fmt.Sprintf("r-%v.json", declared))
				code, out, errOut := cli(t, "run", "--target", file, "--env", "external", "--label-filter", "area:apikeys && !needs:timing", "--json", js)
				if code != 0 {
					t.Errorf("keyAPI declared=%v: exit %d, want 0\n%s\n%s", declared, code, out, errOut)
				}
				r := readRunReport(t, js)
				assertNoSecrets(t, out+errOut, "output")
				seen := map[string]bool{}
				for _, c := range r.Checks {
					if c.Status == framework.Failed || c.Status == framework.Error {
						t.Errorf("keyAPI declared=%v: %s is %s: %s", declared, c.ID, c.Status, firstLine(c.Reason))
					}
					ch, _ := spec.Lookup(c.ID)
					if c.ID != "KEY-001" && c.ID != "KEY-002" || !ch.AppliesTo(p) {
						continue
					}
					seen[c.ID] = true
					switch {
					case declared && c.Status != framework.Passed:
						t.Errorf("keyAPI declared: %s is %s/%s, want passed: %s", c.ID, c.Status, c.SkipKind, firstLine(c.Reason))
					case !declared && (c.Status != framework.Skipped || c.SkipKind != framework.NotApplicable):
						t.Errorf("keyAPI not declared: %s is %s/%s, want skipped/not-applicable: %s", c.ID, c.Status, c.SkipKind, firstLine(c.Reason))
					}
				}
				if !seen["KEY-002"] {
					t.Errorf("keyAPI declared=%v: KEY-002 not in the report", declared)
				}
			}
		})
	}
}
