package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// TestRunProfileFile: a user's dialect given as a profile document is
// checked from its data alone. The dialect here is roboticks' document
// under another name (a user whose API is "like roboticks"); the target is
// the roboticks reference, described by a target file naming the user's
// profile. Every check the profile's capabilities select runs, none fails
// or is error, and the specs are the ones roboticks gets.
func TestRunProfileFile(t *testing.T) {
	doc, err := os.ReadFile("../../spec/profiles/roboticks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	prof := filepath.Join(dir, "robolike.yaml")
	body := strings.Replace(string(doc), "name: roboticks", "name: robolike", 1)
	body = strings.Replace(body, "seed: 000_40b0ee3dfb1a23c8.txt\n", "", 1)
	if err := os.WriteFile(prof, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startRef(t, spec.Roboticks)
	tf := targetFile(t, r, r.URL)
	tb, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tf, []byte(strings.Replace(string(tb), "profile: roboticks", "profile: robolike", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "r.json")
	code, out, errOut := cli(t, "run", "--profile-file", prof, "--target", tf, "--json", js)
	if code != 0 {
		t.Fatalf("run --profile-file exited %d\n%s\n%s", code, out, errOut)
	}
	rep := readRunReport(t, js)
	if len(rep.Profiles) != 1 || rep.Profiles[0] != "robolike" {
		t.Fatalf("profiles %v, want [robolike]", rep.Profiles)
	}
	ran := 0
	for _, c := range rep.Checks {
		if c.Status == framework.Failed || c.Status == framework.Error {
			t.Errorf("%s %s on a correct target: %s", c.ID, c.Status, c.Reason)
		}
		if c.Status == framework.Passed {
			ran++
		}
	}
	if want := len(spec.ChecksFor(spec.Roboticks)); len(rep.Checks) != want || ran < want/2 {
		t.Errorf("robolike got %d checks (%d passed), roboticks has %d", len(rep.Checks), ran, want)
	}
	// The same target checked as roboticks: every check has the same
	// status and the same number of specs (no spec depends on the name).
	r2 := startRef(t, spec.Roboticks) // a fresh budget for the rate-limited key
	robo := targetFile(t, r2, r2.URL)
	js2 := filepath.Join(dir, "robo.json")
	if code, out, errOut := cli(t, "run", "--target", robo, "--json", js2); code != 0 {
		t.Fatalf("run --target (roboticks) exited %d\n%s\n%s", code, out, errOut)
	}
	want := map[string]framework.CheckResult{}
	for _, c := range readRunReport(t, js2).Checks {
		want[c.ID] = c
	}
	for _, c := range rep.Checks {
		w := want[c.ID]
		if c.Status != w.Status || len(c.Specs) != len(w.Specs) {
			t.Errorf("%s: robolike %s with %d specs, roboticks %s with %d", c.ID, c.Status, len(c.Specs), w.Status, len(w.Specs))
		}
	}

	// Bad input: one line naming the field, exit 2.
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(body, "basePath: /api/v1", "basePath: api/v1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--profile-file", bad, "--target", tf}, "basePath"},
		{[]string{"run", "--profile-file", filepath.Join(dir, "missing.yaml"), "--target", tf}, "cannot read"},
		{[]string{"run", "--profile-file", bad}, "basePath"},
	} {
		code, _, errOut := runCLI(c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want exit 2 and one line naming %q", c.args[1:3], code, errOut, c.want)
		}
	}
}

// TestMovedDevicePaths: a dialect like iotistica whose device state and
// provisioning endpoints live elsewhere (deviceState, provisioning in the
// document) is served there by the reference and checked there by the
// suites: the checks that use them pass, and the transcripts show the
// moved paths, never seed 003's.
func TestMovedDevicePaths(t *testing.T) {
	doc, err := os.ReadFile("../../spec/profiles/iotistica.yaml")
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.NewReplacer(
		"name: iotistica", "name: movedpaths",
		"deviceState: /device/{device}/state", "deviceState: /things/{device}/status",
		"provisioning: {create: /provision/keys, redeem: /provision/agent}", "provisioning: {create: /enrol/keys, redeem: /enrol}",
	).Replace(string(doc))
	if !strings.Contains(moved, "/things/{device}/status") || !strings.Contains(moved, "/enrol/keys") {
		t.Fatal("iotistica.yaml no longer spells its device paths as this test expects")
	}
	pf := filepath.Join(t.TempDir(), "moved.yaml")
	if err := os.WriteFile(pf, []byte(moved), 0o600); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := cli(t, "run", "--profile-file", pf, "--label-filter", "area:provisioning || area:tenancy || area:apikeys || area:ratelimit", "--json", js)
	if code != 3 && code != 0 {
		t.Fatalf("run exited %d, want 3 (incomplete: a label filter) or 0\n%s\n%s", code, out, errOut)
	}
	r := readRunReport(t, js)
	ran := 0
	for _, c := range r.Checks {
		switch c.Status {
		case framework.Passed:
			ran++
		case framework.Failed, framework.Error:
			t.Errorf("%s %s: %s", c.ID, c.Status, firstLine(c.Reason))
		}
	}
	raw, _ := os.ReadFile(js)
	for _, want := range []string{"/api/v1/things/", "/status", "/api/v1/enrol/keys", `POST /api/v1/enrol\n`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the transcripts never show %q: the document's paths were not used", want)
		}
	}
	for _, old := range []string{"/api/v1/device/", "/api/v1/provision/"} {
		if strings.Contains(string(raw), old) {
			t.Errorf("the transcripts show seed 003's %q although the document moved it", old)
		}
	}
	if ran < 10 {
		t.Errorf("only %d checks passed", ran)
	}
}
