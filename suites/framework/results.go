package framework

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/authconform/authconform/spec"
)

// Status of a check or spec.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// SpecResult is one Ginkgo spec of a check.
type SpecResult struct {
	Text       string   `json:"text"`
	Level      string   `json:"level"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason,omitempty"`
	DurationMs int64    `json:"durationMs"`
	Exchanges  []string `json:"exchanges,omitempty"`
}

// CheckResult is the verdict on one check for one profile.
type CheckResult struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	Level   string `json:"level"`
	Area    string `json:"area"`
	Title   string `json:"title"`
	Source  string `json:"source"`
	// Status is failed when a spec of the check's own level failed,
	// skipped when every spec was skipped (or none was selected), passed
	// otherwise.
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	DurationMs int64  `json:"durationMs"`
	// ShouldFailures lists failed SHOULD parts of a MUST check.
	ShouldFailures []string     `json:"shouldFailures,omitempty"`
	Specs          []SpecResult `json:"specs,omitempty"`
}

// ProfileSummary is the per-profile verdict.
type ProfileSummary struct {
	Profile       string  `json:"profile"`
	Verdict       string  `json:"verdict"` // conformant | non-conformant
	MustPassed    int     `json:"mustPassed"`
	MustFailed    int     `json:"mustFailed"`
	MustSkipped   int     `json:"mustSkipped"`
	ShouldPassed  int     `json:"shouldPassed"`
	ShouldFailed  int     `json:"shouldFailed"`
	ShouldSkipped int     `json:"shouldSkipped"`
	ShouldScore   float64 `json:"shouldScore"` // passed / (passed + failed), 1 when none ran
	WallMs        int64   `json:"wallMs"`
}

// RunReport is the whole run: metadata, per-check results, summaries.
type RunReport struct {
	Suite       string            `json:"suite"`
	Version     string            `json:"version"`
	Env         string            `json:"env"`
	Profiles    []string          `json:"profiles"`
	Targets     map[string]string `json:"targets"` // profile -> base URL
	Faults      []string          `json:"faults,omitempty"`
	LabelFilter string            `json:"labelFilter,omitempty"`
	Strict      bool              `json:"strict"`
	Start       time.Time         `json:"start"`
	End         time.Time         `json:"end"`
	Checks      []CheckResult     `json:"checks"`
	Summary     []ProfileSummary  `json:"summary"`
}

// Collect turns Ginkgo's report into check results: every catalogue check
// applicable to each profile appears exactly once, selected or not.
func Collect(r types.Report, ctxs []*Ctx, secrets []string) []CheckResult {
	type key struct{ profile, id string }
	specs := map[key][]types.SpecReport{}
	for _, sr := range r.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		labels := sr.Labels()
		id := CheckIDOf(labels)
		p := labelValue(labels, "profile:")
		if id == "" || p == "" {
			continue
		}
		specs[key{p, id}] = append(specs[key{p, id}], sr)
	}
	var out []CheckResult
	for _, c := range ctxs {
		for _, ch := range spec.ChecksFor(c.Name()) {
			out = append(out, aggregate(ch, c.Name(), specs[key{string(c.Name()), ch.ID}], secrets))
		}
	}
	return out
}

// aggregate is the verdict on check ch in profile p from its specs: failed
// when a spec of the check's own level failed, skipped when every spec was
// skipped (or none was selected), passed otherwise; failed SHOULD parts of
// a MUST check are listed in ShouldFailures.
func aggregate(ch spec.Check, p spec.ProfileName, srs []types.SpecReport, secrets []string) CheckResult {
	level := ch.LevelFor(p)
	cr := CheckResult{ID: ch.ID, Profile: string(p), Level: string(level), Area: ch.Area, Title: ch.Title, Source: ch.Source}
	ownFail, allSkipped := false, true
	var reasons []string
	for _, sr := range srs {
		res := specResult(sr, secrets)
		cr.Specs = append(cr.Specs, res)
		cr.DurationMs += res.DurationMs
		switch res.Status {
		case Failed:
			if res.Level == string(level) {
				ownFail = true
				reasons = append(reasons, res.Text+": "+res.Reason)
			} else {
				cr.ShouldFailures = append(cr.ShouldFailures, res.Text+": "+res.Reason)
			}
			allSkipped = false
		case Passed:
			allSkipped = false
		}
	}
	switch {
	case len(srs) == 0:
		cr.Status, cr.Reason = Skipped, "no spec selected for this check (label filter or area not linked)"
	case ownFail:
		cr.Status, cr.Reason = Failed, strings.Join(reasons, "\n")
	case allSkipped:
		cr.Status = Skipped
		cr.Reason = firstReason(cr.Specs)
	default:
		cr.Status = Passed
	}
	return cr
}

// marks label a status in progress lines.
var marks = map[string]string{Passed: "PASS", Failed: "FAIL", Skipped: "SKIP"}

// CheckLine is the one progress line printed when a check's last spec
// has finished.
func CheckLine(cr CheckResult) string {
	line := fmt.Sprintf("%s %-13s %-9s %-6s %s (%d specs, %dms)", marks[cr.Status], cr.Profile, cr.ID, cr.Level, cr.Title, len(cr.Specs), cr.DurationMs)
	switch {
	case cr.Status != Passed && cr.Reason != "":
		line += " — " + firstLine(cr.Reason)
	case len(cr.ShouldFailures) > 0:
		line += " — SHOULD part not met: " + firstLine(cr.ShouldFailures[0])
	}
	return line
}

func firstReason(ss []SpecResult) string {
	for _, s := range ss {
		if s.Reason != "" {
			return s.Reason
		}
	}
	return "skipped"
}

func specResult(sr types.SpecReport, secrets []string) SpecResult {
	res := SpecResult{Text: sr.LeafNodeText, Level: labelValue(sr.Labels(), "level:"), DurationMs: sr.RunTime.Milliseconds()}
	switch {
	case sr.State.Is(types.SpecStatePassed):
		res.Status = Passed
	case sr.State.Is(types.SpecStateSkipped | types.SpecStatePending):
		res.Status = Skipped
		res.Reason = sr.Failure.Message
		if res.Reason == "" {
			res.Reason = "not selected by the label filter"
			if slices.Contains(sr.Labels(), NeedLabel(spec.NeedTiming)) {
				res.Reason += " (timing checks are out of the default run; select them with --label-filter needs:timing)"
			}
		}
	default:
		res.Status = Failed
		res.Reason = sr.Failure.Message
		if res.Reason == "" {
			res.Reason = sr.State.String()
		}
	}
	for _, e := range sr.ReportEntries {
		if e.Name == "exchange" {
			res.Exchanges = append(res.Exchanges, e.StringRepresentation())
		}
	}
	// Keep the last few exchanges: enough to see what was sent and what
	// came back without bloating reports of load-like checks.
	if len(res.Exchanges) > 6 {
		res.Exchanges = append([]string{fmt.Sprintf("(%d earlier exchanges omitted)", len(res.Exchanges)-6)}, res.Exchanges[len(res.Exchanges)-6:]...)
	}
	res.Reason = spec.Mask(res.Reason, secrets)
	for i := range res.Exchanges {
		res.Exchanges[i] = spec.Mask(res.Exchanges[i], secrets)
	}
	return res
}

// Summarize computes per-profile verdicts. With strict, a failed SHOULD
// check makes the profile non-conformant too.
func Summarize(checks []CheckResult, profiles []string, strict bool) []ProfileSummary {
	var out []ProfileSummary
	for _, p := range profiles {
		s := ProfileSummary{Profile: p}
		for _, c := range checks {
			if c.Profile != p {
				continue
			}
			s.WallMs += c.DurationMs
			must := c.Level == string(spec.MUST)
			switch {
			case must && c.Status == Passed:
				s.MustPassed++
			case must && c.Status == Failed:
				s.MustFailed++
			case must:
				s.MustSkipped++
			case c.Status == Passed:
				s.ShouldPassed++
			case c.Status == Failed:
				s.ShouldFailed++
			default:
				s.ShouldSkipped++
			}
			if must && c.Status != Failed && len(c.ShouldFailures) > 0 {
				s.ShouldFailed++
			}
		}
		s.ShouldScore = 1
		if n := s.ShouldPassed + s.ShouldFailed; n > 0 {
			s.ShouldScore = float64(s.ShouldPassed) / float64(n)
		}
		s.Verdict = "conformant"
		if s.MustFailed > 0 || (strict && s.ShouldFailed > 0) {
			s.Verdict = "non-conformant"
		}
		out = append(out, s)
	}
	return out
}

// ExitCode is 0 when every profile is conformant, 1 otherwise.
func ExitCode(sums []ProfileSummary) int {
	for _, s := range sums {
		if s.Verdict != "conformant" {
			return 1
		}
	}
	return 0
}

// PrintSummary writes the per-profile table.
func PrintSummary(w io.Writer, sums []ProfileSummary) {
	fmt.Fprintf(w, "\n%-14s %-15s %6s %6s %7s %14s %8s\n", "PROFILE", "VERDICT", "MUST✓", "MUST✗", "MUST-", "SHOULD score", "WALL")
	for _, s := range sums {
		fmt.Fprintf(w, "%-14s %-15s %6d %6d %7d %7.2f (%d/%d) %7.1fs\n", s.Profile, s.Verdict, s.MustPassed, s.MustFailed, s.MustSkipped,
			s.ShouldScore, s.ShouldPassed, s.ShouldPassed+s.ShouldFailed, float64(s.WallMs)/1000)
	}
}

// ProgressLine is the one line printed as a spec finishes.
func ProgressLine(sr types.SpecReport, secrets []string) string {
	labels := sr.Labels()
	res := specResult(sr, secrets)
	line := fmt.Sprintf("%s %-13s %-9s %-6s %s (%dms)", marks[res.Status], labelValue(labels, "profile:"), CheckIDOf(labels), res.Level, sr.LeafNodeText, res.DurationMs)
	if res.Status != Passed && res.Reason != "" {
		line += " — " + firstLine(res.Reason)
	}
	return line
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// SortChecks orders results by profile order then catalogue order.
func SortChecks(cs []CheckResult) {
	order := map[string]int{}
	for i, c := range spec.Catalogue() {
		order[c.ID] = i
	}
	porder := map[string]int{}
	for i, p := range spec.AllProfiles {
		porder[string(p)] = i
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].Profile != cs[j].Profile {
			return porder[cs[i].Profile] < porder[cs[j].Profile]
		}
		return order[cs[i].ID] < order[cs[j].ID]
	})
}
