package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

func readRunReport(t *testing.T, path string) framework.RunReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r framework.RunReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r
}

// TestRunCleanReference is the acceptance run: every profile
// against the clean embedded reference exits 0, every catalogue ID is in
// the JSON report, and the three reports are written.
func TestRunCleanReference(t *testing.T) {
	dir := t.TempDir()
	js, junit, html := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.xml"), filepath.Join(dir, "r.html")
	code, out, errOut := cli(t, "run", "--profile", "all", "--json", js, "--junit", junit, "--html", html)
	if code != 0 {
		t.Fatalf("run --profile all exited %d, want 0\n%s\n%s", code, out, errOut)
	}
	r := readRunReport(t, js)
	seen := map[string]bool{}
	for _, c := range r.Checks {
		seen[c.ID] = true
		if c.Status == framework.Skipped && (c.Reason == "" || c.SkipKind == "") {
			t.Errorf("%s/%s skipped without a reason or kind", c.Profile, c.ID)
		}
		if c.Level == "MUST" && c.Status == framework.Failed {
			t.Errorf("%s/%s failed on the clean reference: %s", c.Profile, c.ID, c.Reason)
		}
		if c.Status == framework.Error {
			t.Errorf("%s/%s is error on the clean reference: %s", c.Profile, c.ID, c.Reason)
		}
	}
	// With a broker every applicable MUST check runs: conformant, not
	// merely incomplete.
	want := framework.Conformant
	if mqttenv.ExecAvailable() != nil {
		want = framework.Incomplete
	}
	if r.Verdict != want {
		t.Errorf("run verdict %q, want %q", r.Verdict, want)
	}
	for _, id := range spec.IDs() {
		if !seen[id] {
			t.Errorf("catalogue ID %s missing from the JSON report", id)
		}
	}
	for _, p := range []string{junit, html} {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 {
			t.Errorf("report %s not written: %v", p, err)
		}
	}
	assertNoSecrets(t, out+errOut, "run output")
	for _, p := range []string{js, junit, html} {
		b, _ := os.ReadFile(p)
		assertNoSecrets(t, string(b), p)
	}
	t.Logf("summary:\n%s", out[strings.Index(out, "PROFILE"):])
	checkHTMLInChromium(t, html, r)
}

// checkHTMLInChromium loads the HTML report in a real headless Chromium and
// reads the rendered DOM: one verdict row per profile and one row per check.
func checkHTMLInChromium(t *testing.T, path string, r framework.RunReport) {
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Log("SKIP HTML rendering check: no chromium on PATH (apt-get install chromium; CI installs it)")
		return
	}
	out, err := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://"+path).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	dom := string(out)
	for _, p := range r.Profiles {
		if !strings.Contains(dom, `data-profile="`+p+`"`) {
			t.Errorf("rendered DOM has no verdict row for %s", p)
		}
	}
	if n := strings.Count(dom, `class="check"`); n != len(r.Checks) {
		t.Errorf("rendered DOM has %d check rows, report has %d checks", n, len(r.Checks))
	}
	if strings.Contains(dom, "http://") && strings.Contains(dom, "<script") {
		t.Error("HTML report loads scripts")
	}
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("profile: roboticks\nbaseURL: http://127.0.0.1:1\nprincipalz: {}\n"), 0o600)
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown profile", []string{"run", "--profile", "nope"}, "--profile"},
		{"unknown fault", []string{"run", "--fault", "no-such-fault"}, "--fault"},
		{"fault with target", []string{"run", "--fault", "accept-alg-none", "--target", bad}, "--fault"},
		{"bad label filter", []string{"run", "--label-filter", "((("}, "--label-filter"},
		{"bad target field", []string{"run", "--target", bad}, "principalz"},
		{"missing target", []string{"run", "--target", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{"bad flag", []string{"run", "--frobnicate"}, "frobnicate"},
	} {
		code, _, errOut := cli(t, tt.args...)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", tt.name, code, errOut)
		}
		if !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%s: stderr %q should be one line naming %q", tt.name, errOut, tt.want)
		}
	}
}

// fixtureSecrets are every password, key and MQTT password of the
// reference's fixtures (fixtures/targets/*.yaml, kept in step with the
// fixtures by reference/examples_test.go), read once per test binary.
var fixtureSecrets = sync.OnceValues(func() ([]string, error) {
	var out []string
	for _, p := range spec.AllProfiles {
		tg, err := spec.LoadTarget(filepath.Join("..", "..", "fixtures", "targets", string(p)+".yaml"))
		if err != nil {
			return nil, err
		}
		out = append(out, tg.Secrets()...)
	}
	return out, nil
})

// assertNoSecrets fails when text contains any fixture secret, or the
// secret part of one (a key body without its prefix).
func assertNoSecrets(t *testing.T, text, where string) {
	t.Helper()
	secrets, err := fixtureSecrets()
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secrets {
		probe := sec
		if len(sec) > 24 {
			probe = sec[len(sec)-16:] // the tail: masks keep at most a short head
		}
		if strings.Contains(text, probe) {
			t.Errorf("%s contains a fixture secret (%s…)", where, sec[:min(6, len(sec))])
		}
	}
}
