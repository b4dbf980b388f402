package report

import (
	"strings"
	"testing"

	"github.com/authconform/authconform/suites/framework"
)

func sample() *framework.RunReport {
	checks := []framework.CheckResult{
		{ID: "AUTH-001", Profile: "roboticks", Level: "MUST", Area: "transport", Status: framework.Passed},
		{ID: "AUTH-003", Profile: "roboticks", Level: "MUST", Area: "transport", Status: framework.Failed, Reason: "expected 200, got 401"},
		{ID: "TEN-001", Profile: "roboticks", Level: "MUST", Area: "tenancy", Status: framework.Error, Reason: "control failed: 429"},
		{ID: "AUTH-002", Profile: "roboticks", Level: "SHOULD", Area: "transport", Status: framework.Failed, Reason: "no WWW-Authenticate"},
		{ID: "JWT-004", Profile: "roboticks", Level: "MUST", Area: "jwt", Status: framework.Skipped, SkipKind: framework.NotRun, Reason: "needs control of the deployment"},
		{ID: "KEY-001", Profile: "roboticks", Level: "MUST", Area: "apikeys", Status: framework.Skipped, SkipKind: framework.NotApplicable, Reason: "404 on /api-keys"},
	}
	sums := framework.Summarize(checks, []string{"roboticks"}, false, "")
	return &framework.RunReport{Profiles: []string{"roboticks"}, Targets: map[string]string{"roboticks": "http://127.0.0.1:1"}, Checks: checks, Summary: sums, Verdict: framework.RunVerdict(sums)}
}

func TestJUnitStatuses(t *testing.T) {
	j := JUnit(sample())
	if j.Failures != 1 || j.Errors != 1 {
		t.Errorf("failures %d errors %d, want 1 and 1", j.Failures, j.Errors)
	}
	cases := map[string]string{}
	for _, tc := range j.TestSuites[0].TestCases {
		id := strings.Fields(tc.Name)[0]
		switch {
		case tc.Failure != nil:
			cases[id] = "failure"
		case tc.Error != nil:
			cases[id] = "error"
		case tc.Skipped != nil:
			cases[id] = "skipped: " + tc.Skipped.Message
		default:
			cases[id] = "passed"
		}
	}
	for id, want := range map[string]string{
		"AUTH-001": "passed", "AUTH-003": "failure", "TEN-001": "error",
		"AUTH-002": "skipped: SHOULD not met", "JWT-004": "skipped: not-run: ", "KEY-001": "skipped: not-applicable: ",
	} {
		if !strings.HasPrefix(cases[id], want) {
			t.Errorf("%s: %q, want prefix %q", id, cases[id], want)
		}
	}
	var verdict string
	for _, p := range j.TestSuites[0].Properties.Properties {
		if p.Name == "verdict" {
			verdict = p.Value
		}
	}
	if verdict != framework.NonConformant {
		t.Errorf("JUnit verdict property %q, want non-conformant", verdict)
	}
}

func TestHTMLShowsVerdicts(t *testing.T) {
	b, err := HTML(sample())
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, want := range []string{`id="run-verdict">non-conformant`, `class="error">error`, "skipped (not-applicable)", "skipped (not-run)", "JWT-004: not-run"} {
		if !strings.Contains(page, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("HTML has a script")
	}
}
