package report

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
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

// TestJUnitCountsAddUp parses the written XML: the root's counts are the
// sums of the suites', each suite's are its test cases', times are whole
// milliseconds, and SHOULD findings of a passed check are output, not a
// failure.
func TestJUnitCountsAddUp(t *testing.T) {
	r := sample()
	r.Profiles = append(r.Profiles, "rigbox")
	r.Checks = append(r.Checks,
		framework.CheckResult{ID: "JWT-003", Profile: "rigbox", Level: "MUST", Area: "jwt", Status: framework.Passed, DurationMs: 101, ShouldFailures: []string{"no Cache-Control"}},
		framework.CheckResult{ID: "JWT-005", Profile: "rigbox", Level: "MUST", Area: "jwt", Status: framework.Failed, DurationMs: 202, Reason: "accepted"},
		framework.CheckResult{ID: "JWT-001", Profile: "rigbox", Level: "MUST", Area: "jwt", Status: framework.Skipped, SkipKind: framework.NotRun, DurationMs: 3})
	r.Summary = framework.Summarize(r.Checks, r.Profiles, false, "")
	path := filepath.Join(t.TempDir(), "j.xml")
	if err := WriteJUnit(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type tcase struct {
		Name      string    `xml:"name,attr"`
		Time      string    `xml:"time,attr"`
		Failure   *struct{} `xml:"failure"`
		Error     *struct{} `xml:"error"`
		Skipped   *struct{} `xml:"skipped"`
		SystemOut string    `xml:"system-out"`
	}
	type suite struct {
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Disabled int     `xml:"disabled,attr"`
		Skipped  int     `xml:"skipped,attr"`
		Time     string  `xml:"time,attr"`
		Cases    []tcase `xml:"testcase"`
	}
	var root struct {
		Tests    int     `xml:"tests,attr"`
		Failures int     `xml:"failures,attr"`
		Errors   int     `xml:"errors,attr"`
		Disabled int     `xml:"disabled,attr"`
		Time     string  `xml:"time,attr"`
		Suites   []suite `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	wholeMs := regexp.MustCompile(`^\d+(\.\d{1,3})?$`)
	var sum suite
	for i, s := range root.Suites {
		var c suite
		for _, tc := range s.Cases {
			c.Tests++
			switch {
			case tc.Failure != nil:
				c.Failures++
			case tc.Error != nil:
				c.Errors++
			case tc.Skipped != nil:
				c.Skipped++
			}
			if !wholeMs.MatchString(tc.Time) {
				t.Errorf("case %s time %q is not whole milliseconds", tc.Name, tc.Time)
			}
			if strings.HasPrefix(tc.Name, "JWT-003") && (tc.Failure != nil || !strings.Contains(tc.SystemOut, "SHOULD not met: no Cache-Control")) {
				t.Errorf("SHOULD finding of a passed check: failure=%v out=%q", tc.Failure != nil, tc.SystemOut)
			}
		}
		if c.Tests != s.Tests || c.Failures != s.Failures || c.Errors != s.Errors || c.Skipped != s.Skipped || s.Disabled != s.Skipped {
			t.Errorf("suite %d counts %+v, its cases say %+v", i, s, c)
		}
		if !wholeMs.MatchString(s.Time) {
			t.Errorf("suite %d time %q", i, s.Time)
		}
		sum.Tests += s.Tests
		sum.Failures += s.Failures
		sum.Errors += s.Errors
		sum.Disabled += s.Disabled
	}
	if root.Tests != sum.Tests || root.Failures != sum.Failures || root.Errors != sum.Errors || root.Disabled != sum.Disabled || !wholeMs.MatchString(root.Time) {
		t.Errorf("root %+v, suites sum to %+v", root, sum)
	}
}
