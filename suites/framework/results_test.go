package framework

import (
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"

	"github.com/authconform/authconform/spec"
)

// sr is a synthetic spec report of check id at level in profile p.
func sr(id string, level spec.Level, state types.SpecState, msg string) types.SpecReport {
	ch, _ := spec.Lookup(id)
	return types.SpecReport{
		LeafNodeType:   types.NodeTypeIt,
		LeafNodeText:   "spec of " + id,
		LeafNodeLabels: []string{CheckLabel(id), LevelLabel(level), AreaLabel(ch.Area)},
		State:          state,
		Failure:        types.Failure{Message: msg},
	}
}

// The verdict rules of SPEC.md §4, one row per rule.
func TestCheckStatus(t *testing.T) {
	const id = "TEN-001" // MUST, with a SHOULD part
	must, should := spec.MUST, spec.SHOULD
	pass := types.SpecStatePassed
	fail := types.SpecStateFailed
	skip := types.SpecStateSkipped
	for _, tt := range []struct {
		name      string
		agg       Aggregator
		specs     []types.SpecReport
		status    string
		kind      string
		shouldLen int
	}{
		{"every spec passed", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, must, pass, "")}, Passed, "", 0},
		{"an assertion failed", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, must, fail, "expected 403")}, Failed, "", 0},
		{"a control failed", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, must, fail, markError+"control failed: 429")}, Error, "", 0},
		{"failed wins over error", Aggregator{}, []types.SpecReport{sr(id, must, fail, markError+"x"), sr(id, must, fail, "expected 403")}, Failed, "", 0},
		{"a skipped spec and no failure is skipped, not passed", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, must, skip, markNotApplicable+"404 on /keys")}, Skipped, NotApplicable, 0},
		{"not-run wins over not-applicable", Aggregator{}, []types.SpecReport{sr(id, must, skip, markNotApplicable+"a"), sr(id, must, skip, markNotRun+"no broker")}, Skipped, NotRun, 0},
		{"a spec the filter left out", Aggregator{}, []types.SpecReport{sr(id, must, skip, "")}, Skipped, NotSelected, 0},
		{"a spec the interrupt kept from running", Aggregator{Ended: "interrupted", Selected: func([]string) bool { return true }}, []types.SpecReport{sr(id, must, pass, ""), sr(id, must, skip, "")}, Skipped, NotRun, 0},
		{"no spec at all", Aggregator{}, nil, Skipped, NotSelected, 0},
		{"interrupted while running", Aggregator{Ended: "signal"}, []types.SpecReport{sr(id, must, types.SpecStateInterrupted, "Interrupted by User")}, Skipped, NotRun, 0},
		{"a spec timeout is error", Aggregator{}, []types.SpecReport{sr(id, must, types.SpecStateTimedout, "timeout")}, Error, "", 0},
		{"a suite panic is error", Aggregator{}, []types.SpecReport{sr(id, must, types.SpecStatePanicked, "nil map")}, Error, "", 0},
		{"a failed SHOULD part does not fail the MUST check", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, should, fail, "bodies differ")}, Passed, "", 1},
		{"an inconclusive SHOULD part is listed", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, should, fail, markError+"429")}, Passed, "", 1},
		{"an unselected SHOULD part does not skip the MUST check", Aggregator{}, []types.SpecReport{sr(id, must, pass, ""), sr(id, should, skip, "")}, Passed, "", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch, _ := spec.Lookup(id)
			cr := tt.agg.Check(ch, spec.Roboticks, tt.specs)
			if cr.Status != tt.status || cr.SkipKind != tt.kind || len(cr.ShouldFailures) != tt.shouldLen {
				t.Errorf("got %s/%q with %d SHOULD failures, want %s/%q with %d (reason %q)", cr.Status, cr.SkipKind, len(cr.ShouldFailures), tt.status, tt.kind, tt.shouldLen, cr.Reason)
			}
			if strings.Contains(cr.Reason, "[authconform:") {
				t.Errorf("reason keeps a marker: %q", cr.Reason)
			}
			if cr.Status == Skipped && cr.Reason == "" {
				t.Error("skipped without a reason")
			}
		})
	}
}

func TestSummarizeAndExitCodes(t *testing.T) {
	c := func(level, status, kind string, should ...string) CheckResult {
		return CheckResult{ID: "X", Profile: "p", Level: level, Status: status, SkipKind: kind, ShouldFailures: should}
	}
	for _, tt := range []struct {
		name        string
		checks      []CheckResult
		strict      bool
		interrupted string
		verdict     string
		code        int
		codeAll     int
	}{
		{"all passed", []CheckResult{c("MUST", Passed, ""), c("SHOULD", Passed, "")}, false, "", Conformant, 0, 0},
		{"not-applicable MUST is still conformant", []CheckResult{c("MUST", Passed, ""), c("MUST", Skipped, NotApplicable)}, false, "", Conformant, 0, 0},
		{"MUST failed", []CheckResult{c("MUST", Failed, "")}, false, "", NonConformant, 1, 1},
		{"MUST error", []CheckResult{c("MUST", Error, "")}, false, "", NonConformant, 1, 1},
		{"MUST not-run", []CheckResult{c("MUST", Passed, ""), c("MUST", Skipped, NotRun)}, false, "", Incomplete, 0, 1},
		{"MUST not-selected", []CheckResult{c("MUST", Skipped, NotSelected)}, false, "", Incomplete, 0, 1},
		{"SHOULD failed", []CheckResult{c("MUST", Passed, ""), c("SHOULD", Failed, "")}, false, "", Conformant, 0, 0},
		{"SHOULD failed, strict", []CheckResult{c("MUST", Passed, ""), c("SHOULD", Failed, "")}, true, "", NonConformant, 1, 1},
		{"SHOULD error, strict", []CheckResult{c("SHOULD", Error, "")}, true, "", NonConformant, 1, 1},
		{"SHOULD part of a MUST, strict", []CheckResult{c("MUST", Passed, "", "exact shape")}, true, "", NonConformant, 1, 1},
		{"interrupted", []CheckResult{c("MUST", Passed, ""), c("MUST", Skipped, NotRun)}, false, "signal", Interrupted, 130, 130},
		{"interrupted beats failed", []CheckResult{c("MUST", Failed, "")}, false, "signal", Interrupted, 130, 130},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sums := Summarize(tt.checks, []string{"p"}, tt.strict, tt.interrupted)
			v := RunVerdict(sums)
			if v != tt.verdict {
				t.Errorf("verdict %s, want %s", v, tt.verdict)
			}
			if got := ExitCode(v, false); got != tt.code {
				t.Errorf("exit %d, want %d", got, tt.code)
			}
			if got := ExitCode(v, true); got != tt.codeAll {
				t.Errorf("exit with --require-all %d, want %d", got, tt.codeAll)
			}
			if v == Incomplete && len(sums[0].Incomplete) == 0 {
				t.Error("incomplete without saying which checks did not run")
			}
		})
	}
	// The run's verdict is the worst profile's.
	sums := []ProfileSummary{{Verdict: Conformant}, {Verdict: Incomplete}, {Verdict: NonConformant}}
	if v := RunVerdict(sums); v != NonConformant {
		t.Errorf("run verdict %s, want non-conformant", v)
	}
}

func TestSelects(t *testing.T) {
	all := spec.AllProfiles
	for _, tt := range []struct {
		filter string
		want   bool
	}{
		{"", true}, {"JWT-003", true}, {"JWT-999", false}, {"area:nope", false},
		{"level:MUST && area:jwt", true}, {"profile:rigbox && PROV-001", false}, {"needs:timing", true},
	} {
		if got, _ := Selects(tt.filter, all); got != tt.want {
			t.Errorf("Selects(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}
