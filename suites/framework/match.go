package framework

import (
	"fmt"
	"mime"
	"strings"

	"github.com/onsi/gomega/types"

	"github.com/authconform/authconform/spec"
)

// HaveStatus succeeds when a *Resp has one of the given statuses. On
// failure it prints the whole masked exchange: what was sent and what came
// back.
func HaveStatus(codes ...int) types.GomegaMatcher { return &statusMatcher{codes: codes} }

type statusMatcher struct{ codes []int }

func (m *statusMatcher) Match(actual any) (bool, error) {
	r, ok := actual.(*Resp)
	if !ok {
		return false, fmt.Errorf("HaveStatus wants a *framework.Resp, got %T", actual)
	}
	for _, c := range m.codes {
		if r.Status == c {
			return true, nil
		}
	}
	return false, nil
}

func (m *statusMatcher) FailureMessage(actual any) string {
	r := actual.(*Resp)
	return fmt.Sprintf("expected status %s, got %d\n%s", codesText(m.codes), r.Status, r.Exchange)
}

func (m *statusMatcher) NegatedFailureMessage(actual any) string {
	r := actual.(*Resp)
	return fmt.Sprintf("expected status other than %s, got %d\n%s", codesText(m.codes), r.Status, r.Exchange)
}

func codesText(codes []int) string {
	s := make([]string, len(codes))
	for i, c := range codes {
		s[i] = fmt.Sprint(c)
	}
	return strings.Join(s, " or ")
}

// BeErrorResponse succeeds when a *Resp is what an error response of the
// profile MUST be (SPEC.md level discipline): the status, Content-Type
// application/json (or an application/*+json type), and a JSON object
// that, for a seed-given body, carries the seed's fields and values. Where
// the body differs from the reference's exact shape, a SHOULD finding is
// recorded (ShouldNote); extra fields of a seed-given body are INFO.
func BeErrorResponse(status int, body spec.ErrorBody) types.GomegaMatcher {
	return &errorMatcher{status: status, body: body}
}

type errorMatcher struct {
	status int
	body   spec.ErrorBody
	why    string
}

// IsJSONType reports whether a Content-Type is application/json or a
// structured +json type (RFC 6839).
func IsJSONType(ct string) bool {
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func (m *errorMatcher) Match(actual any) (bool, error) {
	r, ok := actual.(*Resp)
	if !ok {
		return false, fmt.Errorf("BeErrorResponse wants a *framework.Resp, got %T", actual)
	}
	if r.Status != m.status {
		m.why = fmt.Sprintf("status %d, want %d", r.Status, m.status)
		return false, nil
	}
	if !IsJSONType(r.Header.Get("Content-Type")) {
		m.why = fmt.Sprintf("Content-Type %q, want application/json", r.Header.Get("Content-Type"))
		return false, nil
	}
	extra, err := m.body.MatchRequired(r.Body)
	if err != nil {
		m.why = err.Error()
		return false, nil
	}
	if m.body.RefDefined {
		// SHOULD: the reference's fields with its values. Extra fields are
		// allowed here as in seed-given bodies (INFO): no source asks an
		// error body to omit them (RFC 9457 §3.2 even defines extensions).
		ref := m.body
		ref.RefDefined = false
		if _, err := ref.MatchRequired(r.Body); err != nil {
			ShouldNote("the %d body is not the reference's shape (ref-defined, SHOULD): %v", m.status, err)
		}
	}
	if len(extra) > 0 {
		Info("the %d body carries fields beyond the seed's (allowed): %s", m.status, strings.Join(extra, ", "))
	}
	return true, nil
}

func (m *errorMatcher) FailureMessage(actual any) string {
	return fmt.Sprintf("expected the profile's %d error response: %s\n%s", m.status, m.why, actual.(*Resp).Exchange)
}

func (m *errorMatcher) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected a response other than the profile's %d error\n%s", m.status, actual.(*Resp).Exchange)
}

// Be401 is the profile's 401 for a present-but-bad credential.
func (c *Ctx) Be401() types.GomegaMatcher { return BeErrorResponse(401, c.Profile.Err401) }

// Be401Missing is the profile's 401 for a request without credential.
func (c *Ctx) Be401Missing() types.GomegaMatcher {
	return BeErrorResponse(401, c.Profile.Err401Missing)
}

// Be403 is the profile's 403.
func (c *Ctx) Be403() types.GomegaMatcher { return BeErrorResponse(403, c.Profile.Err403) }

// Be429 is the profile's 429.
func (c *Ctx) Be429() types.GomegaMatcher { return BeErrorResponse(429, c.Profile.Err429) }
