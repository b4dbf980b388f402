package ratelimit

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

func TestParseDraftField(t *testing.T) {
	for _, c := range []struct {
		vs       []string
		required string
		bad      string // "" = valid
		names    string
	}{
		{[]string{`"default";q=100;w=60`}, "q", "", "default"},
		{[]string{`"default";q=100;qu="requests";pk=:cHJvamVjdA==:;acme-burst=3`}, "q", "", "default"},
		{[]string{`permin;q=50;w=60, "perhr";q=1000;w=3600`}, "q", "", "permin perhr"},
		{[]string{`"a";r=1;t=7`, `"b";r=0`}, "r", "", "a b"},
		{[]string{``}, "r", "empty List", ""},
		{[]string{`"default";q=100;w=60 garbage`}, "q", "not a Structured Fields List", ""},
		{[]string{`("a" "b");q=1`}, "q", "Inner List", ""},
		{[]string{`"a";r=1, "a";r=2`}, "r", "twice", ""},
		{[]string{`"a";q=-1`}, "q", "non-negative Integer", ""},
		{[]string{`"a";q=1.5`}, "q", "non-negative Integer", ""},
		{[]string{`"a";w=60`}, "q", "lacks the required parameter q", ""},
		{[]string{`"a";q=1;qu=requests`}, "q", "qu", ""},
		{[]string{`"a";q=1;pk="x"`}, "q", "Byte Sequence", ""},
		{[]string{`10;q=1`}, "q", "policy name", ""},
	} {
		items, err := parseDraftField(c.vs, c.required)
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%q: %v, want valid", c.vs, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%q: error %v, want one saying %q", c.vs, err, c.bad)
		case c.bad == "":
			var names []string
			for _, it := range items {
				names = append(names, it.name)
			}
			if strings.Join(names, " ") != c.names {
				t.Errorf("%q: policies %v, want %s", c.vs, names, c.names)
			}
		}
	}
}

func TestCheckDraftHeaders(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	x := []string{spec.HeaderRateLimit, "10", spec.HeaderRateRemaining, "4", spec.HeaderRateReset, "1800000002"}
	for _, c := range []struct {
		name string
		h    http.Header
		bad  string
	}{
		{"absent", h(x...), ""},
		{"agree", h(append(x, "RateLimit", `"default";r=4;t=2`, "RateLimit-Policy", `"default";q=10;w=2`)...), ""},
		{"agree, t off by the exchange's second", h(append(x, "RateLimit", `"default";r=4;t=3`)...), ""},
		{"agree, delta Reset", h(spec.HeaderRateLimit, "10", spec.HeaderRateRemaining, "4", spec.HeaderRateReset, "2", "RateLimit", `"default";r=4;t=2`), ""},
		{"two policies, one matches", h(append(x, "RateLimit", `"day";r=900, "default";r=4;t=2`, "RateLimit-Policy", `"day";q=1000;w=86400, "default";q=10;w=2`)...), ""},
		{"only the draft family", h("RateLimit", `"default";r=4;t=2`), ""},
		{"r disagrees", h(append(x, "RateLimit", `"default";r=5;t=2`)...), "r=4"},
		{"t disagrees", h(append(x, "RateLimit", `"default";r=4;t=30`)...), "t=30"},
		{"q disagrees", h(append(x, "RateLimit", `"default";r=4`, "RateLimit-Policy", `"default";q=100`)...), "q=100"},
		{"no policy with the limit", h(append(x, "RateLimit-Policy", `"other";q=100`)...), "q=10"},
		{"unparsable", h(append(x, "RateLimit", `limit=10, remaining=4`)...), "RateLimit"},
	} {
		problem, _ := checkDraftHeaders(c.h, now, now)
		if (c.bad == "") != (problem == "") || !strings.Contains(problem, c.bad) {
			t.Errorf("%s: problem %q, want one saying %q", c.name, problem, c.bad)
		}
	}
}

func TestClassifyReset(t *testing.T) {
	refill := time.Unix(1_800_000_002, 0)
	lo, hi := refill.Add(-15*time.Millisecond), refill.Add(5*time.Millisecond)
	sent := refill.Add(-1300 * time.Millisecond)
	at := sent.Add(2 * time.Millisecond)
	for raw, want := range map[string]spec.ResetFormat{
		"1800000002":                    spec.ResetEpoch,
		"1800000003":                    spec.ResetEpoch, // rounded up
		"1800000002000":                 "epoch-ms",
		"2":                             spec.ResetDelta, // 1.3 s, rounded up
		"1":                             spec.ResetDelta, // rounded down
		"Fri, 15 Jan 2027 08:00:02 GMT": spec.ResetHTTPDate,
		"1800000060":                    "", // a minute late
		"60":                            "", // the window length, not the wait
		"Fri, 15 Jan 2027 08:01:00 GMT": "",
		"soon":                          "",
	} {
		if got, why := classifyReset(raw, sent, at, lo, hi); got != want || (got == "") != (why != "") {
			t.Errorf("%q: %q (%s), want %q", raw, got, why, want)
		}
	}
	// A Unix time one window late says by how much.
	if _, why := classifyReset("1800000004", sent, at, lo, hi); !strings.Contains(why, "2 s after the refill") {
		t.Errorf("1800000004: %q does not say it is 2 s after the refill", why)
	}
	if _, why := classifyReset("1799999990", sent, at, lo, hi); !strings.Contains(why, "12 s before the refill") {
		t.Errorf("1799999990: %q does not say it is 12 s before the refill", why)
	}
	if time.Unix(1_800_000_002, 0).UTC().Format(http.TimeFormat) != "Fri, 15 Jan 2027 08:00:02 GMT" {
		t.Fatal("test date out of step")
	}
}

func TestRetryAfterDelay(t *testing.T) {
	at := time.Unix(1_800_000_000, 500_000_000)
	for v, want := range map[string]float64{"0": 0, "1": 1, " 3 ": 3, "Fri, 15 Jan 2027 08:00:02 GMT": 2} {
		if d, ok := retryAfterDelay(v, at); !ok || d != want {
			t.Errorf("%q: %v %v, want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "-1", "1.5", "+2", "2s", "tomorrow"} {
		if d, ok := retryAfterDelay(v, at); ok {
			t.Errorf("%q: parsed as %v, want refused", v, d)
		}
	}
}

func TestMostWithin(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var ts []time.Time
	for i := 0; i < 10; i++ { // a fixed window: 10 at its end, 10 right after the boundary
		ts = append(ts, t0.Add(1900*time.Millisecond+time.Duration(i)*time.Millisecond), t0.Add(2000*time.Millisecond+time.Duration(i)*time.Millisecond))
	}
	early := t0.Add(100 * time.Millisecond) // within 2 s of all the others
	ts = append(ts, early, t0)              // t0 is not: [t0, t0+2s) ends before the boundary
	if n, from := mostWithin(ts, 2*time.Second); n != 21 || !from.Equal(early) {
		t.Errorf("fixed window: %d from %v, want 21 from %v", n, from, early)
	}
	if n, _ := mostWithin(ts, 150*time.Millisecond); n != 20 {
		t.Errorf("150 ms: %d, want 20", n)
	}
	if n, _ := mostWithin(ts, 50*time.Millisecond); n != 10 {
		t.Errorf("50 ms: %d, want 10", n)
	}
	if n, _ := mostWithin(nil, time.Second); n != 0 {
		t.Errorf("none: %d", n)
	}
}
