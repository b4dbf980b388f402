package loadgen

import (
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// TestRateLimitHeaderProblems: the analyzer reads the X-RateLimit-*
// headers with spec.RateHeader and names what is wrong with each in the
// report's words.
func TestRateLimitHeaderProblems(t *testing.T) {
	now := time.Now()
	reset := now.Unix() + 1
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	r := strconv.FormatInt(reset, 10)
	for _, tc := range []struct {
		name string
		h    http.Header
		want []string
	}{
		{"consistent", hdr(spec.HeaderRateLimit, "10", spec.HeaderRateRemaining, "9", spec.HeaderRateReset, r), nil},
		{"missing and empty", hdr(spec.HeaderRateLimit, "", spec.HeaderRateRemaining, "9"), []string{"X-RateLimit-Limit missing", "X-RateLimit-Reset missing"}},
		{"not an integer", hdr(spec.HeaderRateLimit, "10", spec.HeaderRateRemaining, "nine", spec.HeaderRateReset, r), []string{`X-RateLimit-Remaining "nine" not an integer`}},
		{"repeated", hdr(spec.HeaderRateLimit, "10", spec.HeaderRateLimit, "10", spec.HeaderRateRemaining, "9", spec.HeaderRateReset, r), []string{"header X-RateLimit-Limit: 2 values, want exactly one"}},
	} {
		a := newRateLimitAnalyzer(10, time.Second)
		a.add(&vegeta.Result{Code: 200, Timestamp: now, Headers: tc.h})
		rep := a.report()
		if rep.HeaderErrors != len(tc.want) || !reflect.DeepEqual(rep.HeaderProblems, tc.want) {
			t.Errorf("%s: %d header errors %q; want %q", tc.name, rep.HeaderErrors, rep.HeaderProblems, tc.want)
		}
	}
}
