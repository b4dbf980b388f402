package mqtt_test

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/authconform/authconform/env/gate"
	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

// failedID takes the check ID from a [FAIL] line's label list (the
// description may name other checks).
var failedID = regexp.MustCompile(`\[FAIL\].*\[[^\[\]]*\b(MQTT-\d{3})\b[^\[\]]*\]`)

// runSelf runs TestMQTT in a child process (Ginkgo runs once per process)
// with the given fault and returns the MQTT check IDs that failed.
func runSelf(t *testing.T, fault string) (failed []string, out string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestMQTT$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), "AUTHCONFORM_FAULTS="+fault, "NO_COLOR=1")
	b, _ := cmd.CombinedOutput()
	out = regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(string(b), "")
	seen := map[string]bool{}
	for _, m := range failedID.FindAllStringSubmatch(out, -1) {
		seen[m[1]] = true
	}
	for id := range seen {
		failed = append(failed, id)
	}
	sort.Strings(failed)
	return failed, out
}

// TestMQTTMutants proves the MQTT checks can fail (SPEC.md §3) in a real
// broker: every reference fault that touches an MQTT check makes that
// check fail, and nothing it cannot explain; the clean run passes. The
// run command's mutant test skips these faults because it has no broker.
func TestMQTTMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("MQTT mutant matrix skipped in -short mode")
	}
	if os.Getenv("AUTHCONFORM_FAULTS") != "" {
		t.Skip("running as a mutant child")
	}
	gate.SkipUnless(t, mqttenv.ExecAvailable())
	if failed, out := runSelf(t, ""); len(failed) > 0 || !strings.Contains(out, "PASS") {
		t.Fatalf("clean run failed %v:\n%s", failed, tail(out))
	}
	for _, f := range reference.Faults() {
		var mqttIDs []string
		for _, id := range append([]string{f.Check}, f.AlsoBreaks...) {
			if c, ok := spec.Lookup(id); ok && c.Area == "mqtt" {
				mqttIDs = append(mqttIDs, id)
			}
		}
		if len(mqttIDs) == 0 {
			continue
		}
		f := f
		t.Run(f.Name, func(t *testing.T) {
			failed, out := runSelf(t, f.Name)
			allowed := map[string]bool{f.Check: true}
			for _, id := range f.AlsoBreaks {
				allowed[id] = true
			}
			for _, id := range failed {
				if !allowed[id] {
					t.Errorf("fault %s made %s fail, which it cannot explain (allowed: %s %v)", f.Name, id, f.Check, f.AlsoBreaks)
				}
			}
			want := mqttIDs[0]
			if c, _ := spec.Lookup(f.Check); c.Area == "mqtt" {
				want = f.Check
			}
			found := false
			for _, id := range failed {
				found = found || id == want
			}
			if !found {
				t.Errorf("fault %s: %s did not fail (failed: %v)\n%s", f.Name, want, failed, tail(out))
			}
			t.Logf("fault %-26s failed %v", f.Name, failed)
		})
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}
