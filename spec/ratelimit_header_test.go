package spec

import (
	"errors"
	"net/http"
	"testing"
)

// TestRateHeaders: the three X-RateLimit-* headers are read as one integer
// each, and the error names the first header that is not (its wording is
// in RATE-001's failure messages).
func TestRateHeaders(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name string
		h    http.Header
		want [3]int64
		err  string
	}{
		{"all three", h(HeaderRateLimit, "10", HeaderRateRemaining, "9", HeaderRateReset, "1700000000"), [3]int64{10, 9, 1700000000}, ""},
		{"space around", h(HeaderRateLimit, " 10 ", HeaderRateRemaining, "0", HeaderRateReset, "-1"), [3]int64{10, 0, -1}, ""},
		{"limit missing", h(HeaderRateRemaining, "9", HeaderRateReset, "1"), [3]int64{}, "header X-RateLimit-Limit: 0 values, want exactly one"},
		{"remaining twice", h(HeaderRateLimit, "10", HeaderRateRemaining, "9", HeaderRateRemaining, "8", HeaderRateReset, "1"), [3]int64{}, "header X-RateLimit-Remaining: 2 values, want exactly one"},
		{"reset a date", h(HeaderRateLimit, "10", HeaderRateRemaining, "9", HeaderRateReset, "Sun, 06 Nov 1994 08:49:37 GMT"), [3]int64{}, `header X-RateLimit-Reset: "Sun, 06 Nov 1994 08:49:37 GMT" is not an integer`},
		{"first error wins", h(HeaderRateRemaining, "x"), [3]int64{}, "header X-RateLimit-Limit: 0 values, want exactly one"},
	} {
		l, r, s, err := RateHeaders(tc.h)
		got := ""
		if err != nil {
			got = err.Error()
			var he *RateHeaderError
			if !errors.As(err, &he) {
				t.Errorf("%s: error %T, want *RateHeaderError", tc.name, err)
			}
		}
		if got != tc.err || [3]int64{l, r, s} != tc.want {
			t.Errorf("%s: RateHeaders = %d, %d, %d, %q; want %v, %q", tc.name, l, r, s, got, tc.want, tc.err)
		}
	}
}
