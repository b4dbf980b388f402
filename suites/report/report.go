// Package report writes a conformance run as JSON, JUnit XML and a
// self-contained HTML page. Every string in a report comes from
// framework.Collect, which has already masked the target's secrets.
package report

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/onsi/ginkgo/v2/reporters"

	"github.com/authconform/authconform/suites/framework"
)

func write(path string, b []byte) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// WriteJSON writes the run as indented JSON.
func WriteJSON(path string, r *framework.RunReport) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return write(path, append(b, '\n'))
}

// JUnit converts the run into JUnit XML, one test suite per profile and one
// test case per check (classname profile.area), using Ginkgo's JUnit types.
func JUnit(r *framework.RunReport) reporters.JUnitTestSuites {
	var out reporters.JUnitTestSuites
	for _, p := range r.Profiles {
		s := reporters.JUnitTestSuite{Name: "authconform " + p, Package: r.Targets[p], Timestamp: r.Start.Format("2006-01-02T15:04:05")}
		s.Properties.Properties = append(s.Properties.Properties,
			reporters.JUnitProperty{Name: "env", Value: r.Env},
			reporters.JUnitProperty{Name: "version", Value: r.Version},
			reporters.JUnitProperty{Name: "faults", Value: strings.Join(r.Faults, ",")},
			reporters.JUnitProperty{Name: "verdict", Value: verdictOf(r, p)})
		for _, c := range r.Checks {
			if c.Profile != p {
				continue
			}
			tc := reporters.JUnitTestCase{
				Name:      fmt.Sprintf("%s [%s] %s", c.ID, c.Level, c.Title),
				Classname: p + "." + c.Area,
				Status:    c.Status,
				Time:      float64(c.DurationMs) / 1000,
			}
			if len(c.ShouldFailures) > 0 || len(c.Info) > 0 {
				// SHOULD findings and observations of a check whose own
				// status is not failed: output, not a failure.
				var b strings.Builder
				for _, f := range c.ShouldFailures {
					b.WriteString("SHOULD not met: " + f + "\n")
				}
				for _, i := range c.Info {
					b.WriteString("info: " + i + "\n")
				}
				tc.SystemOut = b.String()
			}
			gates := c.Level == "MUST" || r.Strict
			switch {
			case c.Expected != "" && (c.Status == framework.Failed || c.Status == framework.Error):
				// Waived by the expectations file: reported, not a CI failure.
				tc.Skipped = &reporters.JUnitSkipped{Message: "expected " + c.Status + " (waived: " + firstLine(c.Expected) + "): " + firstLine(c.Reason)}
				s.Skipped++
			case c.Status == framework.Failed && gates:
				tc.Failure = &reporters.JUnitFailure{Message: firstLine(c.Reason), Type: "failed", Description: c.Reason + "\n\n" + exchanges(c)}
				s.Failures++
			case c.Status == framework.Error && gates:
				// Inconclusive: a control failed or the answer could not be
				// judged. An error of a MUST check fails CI like a failure
				// (the run is non-conformant).
				tc.Error = &reporters.JUnitError{Message: firstLine(c.Reason), Type: "error", Description: c.Reason + "\n\n" + exchanges(c)}
				s.Errors++
			case c.Status == framework.Failed || c.Status == framework.Error:
				// A failed or inconclusive SHOULD check is reported but does
				// not fail CI (without --strict): JUnit has no "warning", so
				// it is written as skipped with the finding in the message.
				what := map[string]string{framework.Failed: "not met", framework.Error: "inconclusive"}[c.Status]
				tc.Skipped = &reporters.JUnitSkipped{Message: "SHOULD " + what + " (does not fail the run): " + firstLine(c.Reason)}
				s.Skipped++
			case c.Status == framework.Skipped:
				tc.Skipped = &reporters.JUnitSkipped{Message: c.SkipKind + ": " + firstLine(c.Reason)}
				s.Skipped++
			}
			s.Tests++
			s.Time += tc.Time
			s.TestCases = append(s.TestCases, tc)
		}
		// Ginkgo's JUnit types: "disabled" counts skipped test cases; the
		// root has no skipped attribute, so both carry disabled.
		s.Disabled = s.Skipped
		s.Time = ms(s.Time)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Disabled += s.Disabled
		out.Time = ms(out.Time + s.Time)
		out.TestSuites = append(out.TestSuites, s)
	}
	return out
}

// ms rounds seconds to milliseconds (sums of float seconds drift).
func ms(sec float64) float64 { return math.Round(sec*1000) / 1000 }

// WriteJUnit writes JUnit XML.
func WriteJUnit(path string, r *framework.RunReport) error {
	b, err := xml.MarshalIndent(JUnit(r), "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return write(path, append([]byte(xml.Header), append(b, '\n')...))
}

func verdictOf(r *framework.RunReport, p string) string {
	for _, s := range r.Summary {
		if s.Profile == p {
			return s.Verdict
		}
	}
	return ""
}

func exchanges(c framework.CheckResult) string {
	var b strings.Builder
	for _, s := range c.Specs {
		for _, e := range s.Exchanges {
			b.WriteString(e)
			b.WriteString("\n")
		}
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
