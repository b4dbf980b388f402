package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// mutantProfile picks the profile a fault is proven on: the first profile
// where both the check applies and the defect is observable.
func mutantProfile(c spec.Check, f reference.FaultInfo) spec.ProfileName {
	for _, p := range spec.AllProfiles {
		if !c.AppliesTo(p) {
			continue
		}
		if len(f.Profiles) == 0 || slices.Contains(f.Profiles, p) {
			return p
		}
	}
	return spec.Roboticks
}

// TestMutants proves that the checks can fail (SPEC.md §3): for every
// fault of the reference, a run against the reference started with that
// fault exits 1 with the fault's check failed, and every other failure is
// one the fault explains. Run it alone with `make mutants`.
func TestMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("mutant matrix skipped in -short mode; run make mutants")
	}
	var (
		mu     sync.Mutex
		matrix []string
		// alone: checks some fault made fail with no other check failed
		// (errors of controls it broke allowed); done: faults that ran.
		alone = map[string]bool{}
		done  int
	)
	faults := reference.Faults()
	for _, f := range faults {
		f := f
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			c, ok := spec.Lookup(f.Check)
			if !ok {
				t.Fatalf("fault %s names check %q, not in the catalogue", f.Name, f.Check)
			}
			env := "embedded"
			if c.NeedsAny(spec.NeedMQTT) {
				if err := mqttenv.ExecAvailable(); err != nil {
					t.Skipf("fault %s (%s) needs a real broker: %v (apt-get install mosquitto mosquitto-dev gcc; make plugin)", f.Name, f.Check, err)
				}
				env = "exec"
			}
			p := mutantProfile(c, f)
			js := filepath.Join(t.TempDir(), "r.json")
			args := []string{"run", "--profile", string(p), "--env", env, "--fault", f.Name, "--label-filter", "area:" + c.Area + " && !needs:timing", "--json", js}
			if c.LevelFor(p) != spec.MUST {
				// A fault behind a SHOULD check fails the run only with --strict.
				args = append(args, "--strict")
			}
			code, out, errOut := cli(t, args...)
			if code != 1 {
				t.Fatalf("run --fault %s exited %d, want 1 (check %s must fail)\n%s\n%s", f.Name, code, f.Check, out, errOut)
			}
			r := readRunReport(t, js)
			raw, _ := os.ReadFile(js)
			assertNoSecrets(t, string(raw)+out+errOut, "report of --fault "+f.Name)
			allowed := map[string]bool{f.Check: true}
			// AlsoBreaks lists the other checks the defect legitimately
			// breaks (one defect seen by two checks). Any other failure is
			// one the mutant cannot explain: a defect of the suite.
			for _, id := range f.AlsoBreaks {
				allowed[id] = true
			}
			// A fault makes its check fail; a control-breaking fault
			// (Inconclusive) makes it error. Either way every other failed
			// or error check is one the fault must explain.
			want := framework.Failed
			if f.Inconclusive {
				want = framework.Error
			}
			caught := false
			var unexplained []string
			var failed []string
			for _, cr := range r.Checks {
				if cr.Status == framework.Failed {
					failed = append(failed, cr.ID)
				}
				if cr.Status != framework.Failed && cr.Status != framework.Error {
					continue
				}
				if cr.ID == f.Check && cr.Status == want {
					caught = true
				}
				if !allowed[cr.ID] || (f.Inconclusive && cr.Status == framework.Failed) {
					unexplained = append(unexplained, fmt.Sprintf("%s %s (%s)", cr.ID, cr.Status, firstLine(cr.Reason)))
				}
			}
			if !caught {
				t.Errorf("fault %s: check %s is not %s on %s", f.Name, f.Check, want, p)
			}
			if len(unexplained) > 0 {
				t.Errorf("fault %s: checks failed or error that it does not explain: %s", f.Name, strings.Join(unexplained, "; "))
			}
			mu.Lock()
			matrix = append(matrix, fmt.Sprintf("%-9s %-32s %s", f.Check, f.Name, p))
			if len(failed) == 1 && failed[0] == f.Check {
				alone[f.Check] = true
			}
			done++
			mu.Unlock()
		})
	}
	t.Cleanup(func() {
		// The MUST checks of catalogue v2 each have a mutant that fails
		// them alone: no other check failed, so the defect is blamed on
		// exactly that check. Only when every fault ran (not under -run
		// of a subset, not with the broker missing).
		if done != len(faults) {
			t.Logf("%d of %d faults ran: whether each catalogue-v2 MUST check has a mutant failing it alone is not checked", done, len(faults))
		} else {
			for _, id := range catalogueV2Must {
				if !alone[id] {
					t.Errorf("no fault makes %s the only failed check (catalogue v2: each MUST has a mutant that fails it alone)", id)
				}
			}
		}
		sort.Strings(matrix)
		fmt.Fprintf(os.Stderr, "mutant matrix (check, fault, profile):\n%s\n", strings.Join(matrix, "\n"))
	})
}

// catalogueV2Must are the MUST checks added by catalogue v2 (issue 12).
var catalogueV2Must = []string{"JWT-015", "JWT-016", "JWT-017", "JWT-018", "MQTT-009", "RATE-009"}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestEveryMustCheckHasAMutant: a MUST check with no fault that it is
// proven to catch does not count as implemented (SPEC.md §3).
func TestEveryMustCheckHasAMutant(t *testing.T) {
	have := map[string]bool{}
	for _, f := range reference.Faults() {
		if !f.Inconclusive {
			have[f.Check] = true
		}
	}
	for _, c := range spec.Catalogue() {
		must := c.Level == spec.MUST
		for _, l := range c.LevelIf {
			must = must || l == spec.MUST
		}
		if must && !have[c.ID] {
			t.Errorf("MUST check %s has no mutant (reference fault)", c.ID)
		}
	}
}

// TestReadmeListsEveryFault keeps the README's mutant matrix in step with
// the reference's fault registry.
// faultTable renders the README's mutant table from the fault registry:
// one row per fault, in catalogue order of its check, then by name.
func faultTable() string {
	order := map[string]int{}
	for i, c := range spec.Catalogue() {
		order[c.ID] = i
	}
	fs := reference.Faults()
	sort.SliceStable(fs, func(i, j int) bool {
		if order[fs[i].Check] != order[fs[j].Check] {
			return order[fs[i].Check] < order[fs[j].Check]
		}
		return fs[i].Name < fs[j].Name
	})
	var b strings.Builder
	b.WriteString("| check | fault (`--fault`) | defect |\n|---|---|---|\n")
	for _, f := range fs {
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", f.Check, f.Name, strings.ReplaceAll(spec.OneLine(f.Description), "|", `\|`))
	}
	return b.String()
}

// TestReadmeListsEveryFault keeps the README's mutant table equal to the
// one rendered from the fault registry (no hand-edited or scraped rows).
// AUTHCONFORM_UPDATE_README=1 rewrites it.
func TestReadmeListsEveryFault(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	const head = "| check | fault (`--fault`) | defect |\n"
	start := strings.Index(readme, head)
	if start < 0 {
		t.Fatalf("README has no mutant table starting %q", head)
	}
	end := strings.Index(readme[start:], "\n\n")
	if end < 0 {
		t.Fatal("README mutant table does not end with a blank line")
	}
	have, want := readme[start:start+end+1], faultTable()
	if have == want {
		return
	}
	if os.Getenv("AUTHCONFORM_UPDATE_README") == "1" {
		if err := os.WriteFile("../../README.md", []byte(readme[:start]+want+readme[start+end+1:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	hl, wl := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(hl) || i < len(wl); i++ {
		var h, w string
		if i < len(hl) {
			h = hl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if h != w {
			t.Fatalf("README mutant table differs from the fault registry at row %d:\n have %q\n want %q\n(AUTHCONFORM_UPDATE_README=1 go test -run TestReadmeListsEveryFault ./cmd/authconform rewrites it)", i, h, w)
		}
	}
}
