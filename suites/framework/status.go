package framework

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega/types"
)

// Statuses of a check or spec (SPEC.md §4).
const (
	Passed  = "passed"
	Failed  = "failed"
	Error   = "error"
	Skipped = "skipped"
)

// Kinds of a skipped check or spec (SPEC.md §4).
const (
	// NotApplicable: the target lacks the feature (a ref-defined endpoint
	// answered 404/405, the profile has no such endpoint).
	NotApplicable = "not-applicable"
	// NotSelected: the label filter left it out.
	NotSelected = "not-selected"
	// NotRun: the suite lacked what it needs (broker, deployment control,
	// signing key) or the run ended first (interrupt, timeout, target
	// unresponsive).
	NotRun = "not-run"
)

// Markers carried at the start of a Ginkgo failure or skip message, so the
// aggregation can tell an inconclusive spec from a failed one and the kind
// of a skip. They are stripped from every report.
const (
	markError         = "[authconform:error] "
	markNotApplicable = "[authconform:not-applicable] "
	markNotRun        = "[authconform:not-run] "
)

// Inconclusive ends the spec as error: the target answered something that
// makes the check impossible to judge (a failed positive control, a 5xx or
// 429 on a control request, a broken connection). The message says which
// request.
func Inconclusive(format string, a ...any) {
	Fail(markError+fmt.Sprintf(format, a...), 1)
}

// SkipNotApplicable ends the spec as skipped/not-applicable: the target
// does not have the feature (a ref-defined endpoint answered 404/405).
func SkipNotApplicable(format string, a ...any) {
	Skip(markNotApplicable+fmt.Sprintf(format, a...), 1)
}

// SkipNotRun ends the spec as skipped/not-run: the suite lacks what the
// spec needs.
func SkipNotRun(format string, a ...any) {
	Skip(markNotRun+fmt.Sprintf(format, a...), 1)
}

// classify splits a Ginkgo failure or skip message into status/kind and
// the message without its marker.
func classify(msg string) (marker, rest string) {
	for _, m := range []string{markError, markNotApplicable, markNotRun} {
		if i := strings.Index(msg, m); i >= 0 {
			return m, msg[:i] + msg[i+len(m):]
		}
	}
	return "", msg
}

// Control asserts a positive control: a request by the rightful owner of
// the object a negative assertion is about, which must succeed for that
// negative assertion to mean anything. A failed control ends the spec as
// error (inconclusive), never as failed; what is an error says why: a 429
// means the budget of a key the suite needs ran out, a 5xx that the target
// broke, anything else that the target file does not describe the target.
//
//	framework.Control(cl.Get(paths.Foreign, outsider), "the outsider on its own organisation's devices", 200)
func Control(r *Resp, what string, codes ...int) *Resp {
	for _, c := range codes {
		if r.Status == c {
			return r
		}
	}
	hint := ""
	switch {
	case r.Status == 429:
		hint = " (rate limited: the control's key has no budget left, so the check cannot be judged)"
	case r.Status >= 500:
		hint = " (the target failed on a request that must succeed)"
	case r.Status == 401 || r.Status == 403:
		hint = " (is the credential in the target file valid for this object?)"
	}
	Fail(fmt.Sprintf("%scontrol failed: %s: expected status %s, got %d%s\n%s", markError, what, codesText(codes), r.Status, hint, r.Exchange), 1)
	return r
}

// ControlThat asserts a positive control with any matcher (a field of the
// body, a broker's CONNACK, ...): a mismatch ends the spec as error.
func ControlThat(what string, actual any, m types.GomegaMatcher) {
	ok, err := m.Match(actual)
	if err != nil {
		Fail(fmt.Sprintf("%scontrol failed: %s: %v", markError, what, err), 1)
	}
	if !ok {
		Fail(fmt.Sprintf("%scontrol failed: %s: %s", markError, what, m.FailureMessage(actual)), 1)
	}
}

// ControlOK is ControlThat for a plain condition.
func ControlOK(ok bool, what string, a ...any) {
	if !ok {
		Fail(markError+"control failed: "+fmt.Sprintf(what, a...), 1)
	}
}

// ShouldNote records a SHOULD-level finding inside a spec without failing
// it: the reference's exact shape of a ref-defined body, an extra
// recommendation. It appears in the check's shouldFailures and counts
// against the SHOULD score (and fails the run only under --strict).
func ShouldNote(format string, a ...any) {
	AddReportEntry(entryShould, fmt.Sprintf(format, a...), ReportEntryVisibilityNever)
}

// Info records an observation (INFO level): reported, never scored.
func Info(format string, a ...any) {
	AddReportEntry(entryInfo, fmt.Sprintf(format, a...), ReportEntryVisibilityNever)
}

// Report entry names.
const (
	entryExchange = "exchange"
	entryShould   = "should"
	entryInfo     = "info"
)
