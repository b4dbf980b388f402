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

// SpecResult is one Ginkgo spec of a check.
type SpecResult struct {
	Text   string `json:"text"`
	Level  string `json:"level"`
	Status string `json:"status"`
	// SkipKind is set when Status is skipped: not-applicable, not-selected
	// or not-run.
	SkipKind   string   `json:"skipKind,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	DurationMs int64    `json:"durationMs"`
	Exchanges  []string `json:"exchanges,omitempty"`
	// Should are SHOULD-level findings recorded inside the spec
	// (ShouldNote); Info are observations (Info).
	Should []string `json:"should,omitempty"`
	Info   []string `json:"info,omitempty"`
}

// CheckResult is the verdict on one check for one profile (SPEC.md §4).
type CheckResult struct {
	ID      string `json:"id"`
	Profile string `json:"profile"`
	Level   string `json:"level"`
	Area    string `json:"area"`
	Title   string `json:"title"`
	Source  string `json:"source"`
	// Status is decided by the specs of the check's own level: failed when
	// one failed; else error when one was inconclusive; else skipped when
	// one was skipped or none ran; passed when every one ran and passed.
	Status string `json:"status"`
	// SkipKind is set when Status is skipped: not-run over not-selected
	// over not-applicable, when the specs disagree.
	SkipKind   string `json:"skipKind,omitempty"`
	Reason     string `json:"reason,omitempty"`
	DurationMs int64  `json:"durationMs"`
	// ShouldFailures lists failed SHOULD parts of the check: SHOULD specs
	// of a MUST check and SHOULD findings inside any spec.
	ShouldFailures []string `json:"shouldFailures,omitempty"`
	// Info lists observations (INFO): never scored.
	Info  []string     `json:"info,omitempty"`
	Specs []SpecResult `json:"specs,omitempty"`
	// Expected is the expectations file's reason when the check failed
	// or was error as expected (--expect): it does not count against the
	// verdict. UnexpectedPass marks a listed check that passed.
	Expected       string `json:"expected,omitempty"`
	UnexpectedPass bool   `json:"unexpectedPass,omitempty"`
}

// Run verdicts (SPEC.md §4).
const (
	Conformant    = "conformant"
	NonConformant = "non-conformant"
	Incomplete    = "incomplete"
	Interrupted   = "interrupted"
)

// ProfileSummary is the per-profile verdict.
type ProfileSummary struct {
	Profile string `json:"profile"`
	// Verdict is conformant, non-conformant, incomplete or interrupted.
	Verdict           string `json:"verdict"`
	MustPassed        int    `json:"mustPassed"`
	MustFailed        int    `json:"mustFailed"`
	MustError         int    `json:"mustError"`
	MustSkipped       int    `json:"mustSkipped"` // every kind
	MustNotRun        int    `json:"mustNotRun"`
	MustNotSelected   int    `json:"mustNotSelected"`
	MustNotApplicable int    `json:"mustNotApplicable"`
	ShouldPassed      int    `json:"shouldPassed"`
	ShouldFailed      int    `json:"shouldFailed"`
	ShouldError       int    `json:"shouldError"`
	ShouldSkipped     int    `json:"shouldSkipped"`
	// ShouldScore is passed / (passed + failed), 1 when none ran.
	ShouldScore float64 `json:"shouldScore"`
	// Incomplete names the applicable MUST checks that did not run, and why
	// ("JWT-004: not-run: needs control of the deployment ...").
	Incomplete []string `json:"incomplete,omitempty"`
	// ExpectedFailures counts the failed or error checks an expectations
	// file waived (they stay in the counts above and in Verdict, which is
	// the truth about the implementation); UnexpectedPasses lists listed
	// checks that passed ("remove it"). Gate is Verdict with the waived
	// failures not counted, non-conformant when a listed check
	// unexpectedly passed: the exit code follows it.
	Gate             string   `json:"gate"`
	ExpectedFailures int      `json:"expectedFailures,omitempty"`
	UnexpectedPasses []string `json:"unexpectedPasses,omitempty"`
	WallMs           int64    `json:"wallMs"`
}

// RunReport is the whole run: metadata, per-check results, summaries.
type RunReport struct {
	Suite       string            `json:"suite"`
	Version     string            `json:"version"`
	Env         string            `json:"env"`
	Profiles    []string          `json:"profiles"`
	Targets     map[string]string `json:"targets"` // profile -> base URL
	Faults      []string          `json:"faults,omitempty"`
	Variants    []string          `json:"variants,omitempty"`
	LabelFilter string            `json:"labelFilter,omitempty"`
	Strict      bool              `json:"strict"`
	RequireAll  bool              `json:"requireAll"`
	// Expectations is the --expect file whose waivers were applied.
	Expectations string    `json:"expectations,omitempty"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	// Verdict is the run's: interrupted over non-conformant over
	// incomplete over conformant. Gate is the verdict after the
	// expectations file (--expect), the one the exit code follows.
	Verdict string `json:"verdict"`
	Gate    string `json:"gate"`
	// Interrupted says why the run ended early (signal, --timeout, target
	// unresponsive), "" when it ran to the end.
	Interrupted string           `json:"interrupted,omitempty"`
	Checks      []CheckResult    `json:"checks"`
	Summary     []ProfileSummary `json:"summary"`
}

// Aggregator turns Ginkgo spec reports into check results. One value
// serves the live progress lines and the final reports, so both say the
// same thing.
type Aggregator struct {
	// Secrets are masked in every string.
	Secrets []string
	// Selected reports whether the label filter selects a spec with these
	// labels; a spec Ginkgo skipped without a message is not-selected when
	// it does not, not-run (the run ended first) when it does. nil: every
	// such spec is not-selected.
	Selected func(labels []string) bool
	// Ended is why the run ended early ("" = it did not): the reason of
	// every spec it kept from running. Interrupted tells a signal or the
	// suite timeout (verdict interrupted) from a target that stopped
	// answering (what ran is judged).
	Ended       string
	Interrupted bool
}

// Collect turns Ginkgo's report into check results: every catalogue check
// applicable to each profile appears exactly once, selected or not.
func (a Aggregator) Collect(r types.Report, ctxs []*Ctx) []CheckResult {
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
			out = append(out, a.Check(ch, c.Name(), specs[key{string(c.Name()), ch.ID}]))
		}
	}
	return out
}

// skipRank orders skip kinds: the check takes the highest of its specs'.
var skipRank = map[string]int{NotApplicable: 1, NotSelected: 2, NotRun: 3}

// Check is the verdict on check ch in profile p from its specs (SPEC.md
// §4). Only the specs of the check's own level decide its status; failed
// or inconclusive SHOULD parts of a MUST check, and SHOULD findings inside
// any spec, are listed in ShouldFailures.
func (a Aggregator) Check(ch spec.Check, p spec.ProfileName, srs []types.SpecReport) CheckResult {
	level := ch.LevelFor(p)
	cr := CheckResult{ID: ch.ID, Profile: string(p), Level: string(level), Area: ch.Area, Title: ch.Title, Source: ch.Source}
	var failed, errs, skips []string
	own, kind := 0, ""
	for _, sr := range srs {
		res := a.spec(sr)
		cr.Specs = append(cr.Specs, res)
		cr.DurationMs += res.DurationMs
		for _, s := range res.Should {
			cr.ShouldFailures = append(cr.ShouldFailures, res.Text+": "+s)
		}
		cr.Info = append(cr.Info, res.Info...)
		if res.Level != string(level) {
			switch res.Status {
			case Failed:
				cr.ShouldFailures = append(cr.ShouldFailures, res.Text+": "+res.Reason)
			case Error:
				cr.ShouldFailures = append(cr.ShouldFailures, res.Text+": inconclusive: "+res.Reason)
			}
			continue
		}
		own++
		switch res.Status {
		case Failed:
			failed = append(failed, res.Text+": "+res.Reason)
		case Error:
			errs = append(errs, res.Text+": "+res.Reason)
		case Skipped:
			skips = append(skips, res.Reason)
			if skipRank[res.SkipKind] > skipRank[kind] {
				kind = res.SkipKind
			}
		}
	}
	switch {
	case len(failed) > 0:
		cr.Status, cr.Reason = Failed, strings.Join(failed, "\n")
	case len(errs) > 0:
		cr.Status, cr.Reason = Error, strings.Join(errs, "\n")
	case own == 0:
		cr.Status, cr.SkipKind = Skipped, NotSelected
		cr.Reason = "no spec of this check was selected (label filter, or its area is not linked into this binary)"
		if a.Ended != "" && len(srs) > 0 {
			cr.SkipKind, cr.Reason = NotRun, a.Ended
		}
	case len(skips) > 0:
		cr.Status, cr.SkipKind = Skipped, kind
		cr.Reason = skipReason(cr.Specs, string(level), kind)
	default:
		cr.Status = Passed
	}
	return cr
}

// skipReason is the reason of the first own-level spec skipped with kind.
func skipReason(ss []SpecResult, level, kind string) string {
	for _, s := range ss {
		if s.Level == level && s.Status == Skipped && s.SkipKind == kind && s.Reason != "" {
			return s.Reason
		}
	}
	return kind
}

// marks label a status in progress lines.
var marks = map[string]string{Passed: "PASS", Failed: "FAIL", Error: "ERR ", Skipped: "SKIP"}

// CheckLine is the one progress line printed when a check's last spec
// has finished.
func CheckLine(cr CheckResult) string {
	status := marks[cr.Status]
	line := fmt.Sprintf("%s %-13s %-9s %-6s %s (%d specs, %dms)", status, cr.Profile, cr.ID, cr.Level, cr.Title, len(cr.Specs), cr.DurationMs)
	switch {
	case cr.Status == Skipped:
		line += " — " + cr.SkipKind + ": " + firstLine(cr.Reason)
	case cr.Status != Passed && cr.Reason != "":
		line += " — " + firstLine(cr.Reason)
	case len(cr.ShouldFailures) > 0:
		line += " — SHOULD part not met: " + firstLine(cr.ShouldFailures[0])
	}
	if cr.Expected != "" {
		line += " [expected failure: " + firstLine(cr.Expected) + "]"
	}
	if cr.UnexpectedPass {
		line += " [unexpectedly passed: remove it from the expectations file]"
	}
	return line
}

// spec is the result of one Ginkgo spec.
func (a Aggregator) spec(sr types.SpecReport) SpecResult {
	labels := sr.Labels()
	res := SpecResult{Text: sr.LeafNodeText, Level: labelValue(labels, "level:"), DurationMs: sr.RunTime.Milliseconds()}
	marker, msg := classify(sr.Failure.Message)
	switch {
	case sr.State.Is(types.SpecStatePassed):
		res.Status = Passed
	case sr.State.Is(types.SpecStateSkipped | types.SpecStatePending):
		res.Status, res.Reason = Skipped, msg
		switch {
		case marker == markNotApplicable:
			res.SkipKind = NotApplicable
		case marker == markNotRun:
			res.SkipKind = NotRun
		case msg != "":
			// A plain Skip from a spec: the suite could not run it.
			res.SkipKind = NotRun
		case a.Ended != "" && (a.Selected == nil || a.Selected(labels)):
			res.SkipKind, res.Reason = NotRun, a.Ended
		default:
			res.SkipKind, res.Reason = NotSelected, "not selected by the label filter"
			if slices.Contains(labels, NeedLabel(spec.NeedTiming)) {
				res.Reason += " (timing checks are out of the default run; select them with --label-filter needs:timing)"
			}
		}
	case sr.State.Is(types.SpecStateInterrupted | types.SpecStateAborted):
		res.Status, res.SkipKind, res.Reason = Skipped, NotRun, "interrupted while running"
		if a.Ended != "" {
			res.Reason = "interrupted while running (" + a.Ended + ")"
		}
	case sr.State.Is(types.SpecStateTimedout):
		res.Status, res.Reason = Error, "the spec timed out waiting for the target: "+msg
	case sr.State.Is(types.SpecStatePanicked):
		// A panic is the suite's defect, not a verdict on the target.
		res.Status, res.Reason = Error, "the suite panicked (please report it): "+msg
	case marker == markError:
		res.Status, res.Reason = Error, msg
	default:
		res.Status, res.Reason = Failed, msg
		if res.Reason == "" {
			res.Reason = sr.State.String()
		}
	}
	for _, e := range sr.ReportEntries {
		switch e.Name {
		case entryExchange:
			res.Exchanges = append(res.Exchanges, e.StringRepresentation())
		case entryShould:
			res.Should = append(res.Should, spec.Mask(e.StringRepresentation(), a.Secrets))
		case entryInfo:
			res.Info = append(res.Info, spec.Mask(e.StringRepresentation(), a.Secrets))
		}
	}
	// Keep the last few exchanges: enough to see what was sent and what
	// came back without bloating reports of load-like checks.
	if len(res.Exchanges) > 6 {
		res.Exchanges = append([]string{fmt.Sprintf("(%d earlier exchanges omitted)", len(res.Exchanges)-6)}, res.Exchanges[len(res.Exchanges)-6:]...)
	}
	res.Reason = spec.Mask(res.Reason, a.Secrets)
	for i := range res.Exchanges {
		res.Exchanges[i] = spec.Mask(res.Exchanges[i], a.Secrets)
	}
	return res
}

// Summarize computes per-profile verdicts (SPEC.md §4). interrupted is
// why the run ended early ("" = it ran to the end). With strict, a failed
// or inconclusive SHOULD check, or a failed SHOULD part, makes the profile
// non-conformant too.
func Summarize(checks []CheckResult, profiles []string, strict bool, interrupted string) []ProfileSummary {
	var out []ProfileSummary
	for _, p := range profiles {
		s := ProfileSummary{Profile: p}
		expMust, expShould := 0, 0
		for _, c := range checks {
			if c.Profile != p {
				continue
			}
			s.WallMs += c.DurationMs
			if c.UnexpectedPass {
				s.UnexpectedPasses = append(s.UnexpectedPasses, c.ID)
			}
			expected := c.Expected != "" && (c.Status == Failed || c.Status == Error)
			if expected {
				s.ExpectedFailures++
			}
			must := c.Level == string(spec.MUST)
			switch {
			case must && c.Status == Passed:
				s.MustPassed++
			case must && c.Status == Failed:
				s.MustFailed++
			case must && c.Status == Error:
				s.MustError++
			case must:
				s.MustSkipped++
				switch c.SkipKind {
				case NotApplicable:
					s.MustNotApplicable++
				case NotSelected:
					s.MustNotSelected++
					s.Incomplete = append(s.Incomplete, c.ID+": not-selected")
				default:
					s.MustNotRun++
					s.Incomplete = append(s.Incomplete, c.ID+": not-run: "+firstLine(c.Reason))
				}
			case c.Status == Passed:
				s.ShouldPassed++
			case c.Status == Failed:
				s.ShouldFailed++
			case c.Status == Error:
				s.ShouldError++
			default:
				s.ShouldSkipped++
			}
			if must && c.Status != Failed && len(c.ShouldFailures) > 0 {
				s.ShouldFailed++
			}
			if expected && must {
				expMust++
			} else if expected {
				expShould++
			}
		}
		s.ShouldScore = 1
		if n := s.ShouldPassed + s.ShouldFailed; n > 0 {
			s.ShouldScore = float64(s.ShouldPassed) / float64(n)
		}
		s.Verdict = profileVerdict(s, 0, 0, strict, interrupted)
		s.Gate = profileVerdict(s, expMust, expShould, strict, interrupted)
		if len(s.UnexpectedPasses) > 0 && s.Gate != Interrupted {
			// A stale waiver would hide the check's next regression.
			s.Gate = NonConformant
		}
		out = append(out, s)
	}
	return out
}

// profileVerdict is the verdict of s when expMust of its failed or error
// MUST checks and expShould of its SHOULD ones do not count.
func profileVerdict(s ProfileSummary, expMust, expShould int, strict bool, interrupted string) string {
	switch {
	case interrupted != "":
		return Interrupted
	case s.MustFailed+s.MustError > expMust || (strict && s.ShouldFailed+s.ShouldError > expShould):
		return NonConformant
	case len(s.Incomplete) > 0:
		return Incomplete
	default:
		return Conformant
	}
}

// RunGate is the run's gate: the worst profile Gate (the verdict with
// the expectations file's expected failures not counted, and
// non-conformant for a listed check that unexpectedly passed). The exit
// code follows it; without --expect it equals RunVerdict.
func RunGate(sums []ProfileSummary) string {
	g := make([]ProfileSummary, len(sums))
	for i, s := range sums {
		g[i] = ProfileSummary{Verdict: s.Gate}
	}
	return RunVerdict(g)
}

// RunVerdict is the verdict of the whole run: interrupted over
// non-conformant over incomplete over conformant.
func RunVerdict(sums []ProfileSummary) string {
	rank := map[string]int{Conformant: 0, Incomplete: 1, NonConformant: 2, Interrupted: 3}
	v := Conformant
	for _, s := range sums {
		if rank[s.Verdict] > rank[v] {
			v = s.Verdict
		}
	}
	return v
}

// Exit codes of a run (SPEC.md §4).
const (
	ExitConformant    = 0
	ExitNonConformant = 1
	ExitUsage         = 2
	ExitPreflight     = 3
	ExitInterrupted   = 130
)

// ExitCode maps a run verdict to the exit code: 0 conformant or
// incomplete (1 for incomplete with requireAll), 1 non-conformant, 130
// interrupted.
func ExitCode(verdict string, requireAll bool) int {
	switch verdict {
	case Conformant:
		return ExitConformant
	case Incomplete:
		if requireAll {
			return ExitNonConformant
		}
		return ExitConformant
	case Interrupted:
		return ExitInterrupted
	default:
		return ExitNonConformant
	}
}

// PrintSummary writes the per-profile table, what kept each incomplete
// profile from being judged, and the run verdict.
func PrintSummary(w io.Writer, sums []ProfileSummary) {
	fmt.Fprintf(w, "\n%-14s %-15s %6s %6s %6s %7s %14s %8s\n", "PROFILE", "VERDICT", "MUST✓", "MUST✗", "ERROR", "MUST-", "SHOULD score", "WALL")
	for _, s := range sums {
		fmt.Fprintf(w, "%-14s %-15s %6d %6d %6d %7d %7.2f (%d/%d) %7.1fs\n", s.Profile, s.Verdict, s.MustPassed, s.MustFailed, s.MustError, s.MustSkipped,
			s.ShouldScore, s.ShouldPassed, s.ShouldPassed+s.ShouldFailed, float64(s.WallMs)/1000)
	}
	for _, s := range sums {
		if s.ExpectedFailures > 0 {
			fmt.Fprintf(w, "%s: %d expected failures (waived by the expectations file; still in the verdict)\n", s.Profile, s.ExpectedFailures)
		}
		for _, id := range s.UnexpectedPasses {
			fmt.Fprintf(w, "%s: %s unexpectedly passed: remove it from the expectations file (fails the gate)\n", s.Profile, id)
		}
	}
	for _, s := range sums {
		if len(s.Incomplete) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: %d applicable MUST checks did not run:\n", s.Profile, len(s.Incomplete))
		var unselected []string
		for _, why := range s.Incomplete {
			if id, ok := strings.CutSuffix(why, ": "+NotSelected); ok {
				unselected = append(unselected, id)
				continue
			}
			fmt.Fprintf(w, "  %s\n", why)
		}
		if len(unselected) > 0 {
			fmt.Fprintf(w, "  not selected by the label filter: %s\n", strings.Join(unselected, " "))
		}
	}
	fmt.Fprintf(w, "verdict: %s\n", RunVerdict(sums))
	if g := RunGate(sums); g != RunVerdict(sums) {
		fmt.Fprintf(w, "gate (after the expectations file): %s\n", g)
	}
}

// ProgressLine is the one line printed as a spec finishes (--verbose).
func (a Aggregator) ProgressLine(sr types.SpecReport) string {
	labels := sr.Labels()
	res := a.spec(sr)
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
