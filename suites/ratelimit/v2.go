package ratelimit

// Pure helpers of RATE-008 .. RATE-010 (catalogue v2): reading the
// draft-12 RateLimit fields, classifying X-RateLimit-Reset by an observed
// refill, Retry-After, and the most admissions within one window length.
// They take values, not responses, so that suite_internal_test.go can
// prove that each can fail.

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/authconform/authconform/spec"
)

// draftItem is one member of a RateLimit or RateLimit-Policy List: the
// policy name and its Integer parameters (r, t; q, w).
type draftItem struct {
	name   string
	params map[string]int64
}

// parseDraftField parses a draft-ietf-httpapi-ratelimit-headers-12 field
// (RateLimit or RateLimit-Policy): a non-empty Structured Fields List
// (RFC 9651 §3.1) of Items, each a policy name (a String, as the draft's
// examples write it, or a Token) with parameters; required names the
// parameter every Item must carry (r or q). Integer parameters the draft
// defines (r, t, q, w) must be non-negative Integers; qu must be a
// String, pk a Byte Sequence; other parameters are allowed (the draft:
// "regarded as comments"). The library is github.com/dunglas/httpsfv,
// which passes the httpwg structured-field-tests.
func parseDraftField(values []string, required string) ([]draftItem, error) {
	l, err := httpsfv.UnmarshalList(values)
	if err != nil {
		return nil, fmt.Errorf("not a Structured Fields List: %v", err)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("an empty List (the draft requires at least one policy)")
	}
	seen := map[string]bool{}
	var out []draftItem
	for i, m := range l {
		it, ok := m.(httpsfv.Item)
		if !ok {
			return nil, fmt.Errorf("member %d is an Inner List, not an Item naming a policy", i)
		}
		var name string
		switch v := it.Value.(type) {
		case string:
			name = v
		case httpsfv.Token:
			name = string(v)
		default:
			return nil, fmt.Errorf("member %d: the policy name is a %T, not a String", i, it.Value)
		}
		if seen[name] {
			return nil, fmt.Errorf("policy %q appears twice (the draft: not multiple fields with the same policy)", name)
		}
		seen[name] = true
		d := draftItem{name: name, params: map[string]int64{}}
		for _, k := range it.Params.Names() {
			v, _ := it.Params.Get(k)
			switch k {
			case "r", "t", "q", "w":
				n, ok := v.(int64)
				if !ok || n < 0 {
					return nil, fmt.Errorf("policy %q: parameter %s=%v is not a non-negative Integer", name, k, v)
				}
				d.params[k] = n
			case "qu":
				if _, ok := v.(string); !ok {
					return nil, fmt.Errorf("policy %q: parameter qu=%v is not a String", name, v)
				}
			case "pk":
				if _, ok := v.([]byte); !ok {
					return nil, fmt.Errorf("policy %q: parameter pk=%v is not a Byte Sequence", name, v)
				}
			}
		}
		if _, ok := d.params[required]; !ok {
			return nil, fmt.Errorf("policy %q lacks the required parameter %s", name, required)
		}
		out = append(out, d)
	}
	return out, nil
}

// rateFamily names which rate-limit header families h carries.
func rateFamily(h http.Header) string {
	x := h.Get(spec.HeaderRateLimit) != "" || h.Get(spec.HeaderRateRemaining) != "" || h.Get(spec.HeaderRateReset) != ""
	d := len(h.Values(spec.HeaderDraftRateLimit)) > 0 || len(h.Values(spec.HeaderDraftRateLimitPolicy)) > 0
	switch {
	case x && d:
		return "both X-RateLimit-* and RateLimit/RateLimit-Policy"
	case x:
		return "X-RateLimit-* only"
	case d:
		return "RateLimit/RateLimit-Policy only"
	}
	return "no rate-limit headers"
}

// checkDraftHeaders parses the draft fields of h (a response sent at sent
// and received at at) and compares them with its X-RateLimit-* headers
// where those are present and integral. It returns "" when the draft
// fields are absent or agree, else what is wrong; notes are
// observations (INFO).
func checkDraftHeaders(h http.Header, sent, at time.Time) (problem string, notes []string) {
	rlv, polv := h.Values(spec.HeaderDraftRateLimit), h.Values(spec.HeaderDraftRateLimitPolicy)
	if len(rlv) == 0 && len(polv) == 0 {
		return "", nil
	}
	var rl, pol []draftItem
	var err error
	if len(rlv) > 0 {
		if rl, err = parseDraftField(rlv, "r"); err != nil {
			return fmt.Sprintf("RateLimit %q: %v", strings.Join(rlv, ", "), err), nil
		}
	}
	if len(polv) > 0 {
		if pol, err = parseDraftField(polv, "q"); err != nil {
			return fmt.Sprintf("RateLimit-Policy %q: %v", strings.Join(polv, ", "), err), nil
		}
	}
	limit, remaining, reset, xerr := spec.RateHeaders(h)
	if xerr != nil {
		return "", []string{fmt.Sprintf("draft fields parse; no integral X-RateLimit-* to compare them with (%v)", xerr)}
	}
	// The draft: with several policies the server sends the one with the
	// lowest remaining; the X-RateLimit-* trio describes one of them.
	var cur *draftItem
	for i := range rl {
		if rl[i].params["r"] == remaining {
			cur = &rl[i]
			break
		}
	}
	if len(rl) > 0 && cur == nil {
		return fmt.Sprintf("no RateLimit policy has r=%d, the X-RateLimit-Remaining of the same response (RateLimit %q)", remaining, strings.Join(rlv, ", ")), nil
	}
	if cur != nil {
		if t, ok := cur.params["t"]; ok {
			// t is delay-seconds to the reset; X-RateLimit-Reset a Unix
			// time or itself a delay: both whole seconds, so ±1 s, plus
			// the time the exchange took.
			lo, hi := float64(reset)-1, float64(reset)+1
			if isEpoch(reset, at) {
				lo = float64(reset) - unixSeconds(at) - 1
				hi = float64(reset) - unixSeconds(sent) + 1
			}
			if float64(t) < lo || float64(t) > hi {
				return fmt.Sprintf("RateLimit policy %q has t=%d, but X-RateLimit-Reset %d of the same response puts the reset %.1f..%.1f s away", cur.name, t, reset, lo+1, hi-1), nil
			}
		}
	}
	if len(pol) > 0 {
		var match *draftItem
		for i := range pol {
			if cur != nil && pol[i].name == cur.name {
				match = &pol[i]
			}
		}
		if match == nil {
			for i := range pol {
				if pol[i].params["q"] == limit {
					match = &pol[i]
				}
			}
		}
		switch {
		case match == nil:
			return fmt.Sprintf("no RateLimit-Policy policy has q=%d, the X-RateLimit-Limit of the same response (RateLimit-Policy %q)", limit, strings.Join(polv, ", ")), nil
		case match.params["q"] != limit:
			return fmt.Sprintf("RateLimit-Policy %q has q=%d, but X-RateLimit-Limit is %d", match.name, match.params["q"], limit), nil
		}
	}
	return "", []string{fmt.Sprintf("RateLimit %q and RateLimit-Policy %q agree with X-RateLimit-Limit %d, -Remaining %d, -Reset %d", strings.Join(rlv, ", "), strings.Join(polv, ", "), limit, remaining, reset)}
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// classifyReset reads a raw X-RateLimit-Reset value, seen on a response
// sent at sent and received at at, against a refill observed between lo
// and hi. Each reading is a moment known to ±1 s (whole seconds); the
// value is classified as the reading whose moment can be the refill:
// epoch (Unix seconds), epoch-ms (Unix milliseconds), delta (seconds
// from the response) or http-date. "" when none fits (why says so).
func classifyReset(raw string, sent, at, lo, hi time.Time) (f spec.ResetFormat, why string) {
	v := strings.TrimSpace(raw)
	fits := func(from, to float64) bool { return from <= unixSeconds(hi) && to >= unixSeconds(lo) }
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		x := float64(n)
		switch {
		case fits(x-1, x+1):
			return spec.ResetEpoch, ""
		case fits(x/1000-1, x/1000+1):
			return "epoch-ms", ""
		case fits(unixSeconds(sent)+x-1, unixSeconds(at)+x+1):
			return spec.ResetDelta, ""
		}
		off := ""
		if d := x - unixSeconds(hi); x > 1e9 && x < 1e10 && d > 0 {
			off = fmt.Sprintf(" (as a Unix time it is %.0f s after the refill)", d)
		} else if d := unixSeconds(lo) - x; x > 1e9 && x < 1e10 && d > 0 {
			off = fmt.Sprintf(" (as a Unix time it is %.0f s before the refill)", d)
		}
		return "", fmt.Sprintf("the integer %d is neither the Unix time (seconds or ms) of the refill observed at %s..%s nor the seconds from its response (sent %s) to it%s", n, stamp(lo), stamp(hi), stamp(sent), off)
	}
	if t, err := http.ParseTime(v); err == nil {
		if fits(unixSeconds(t)-1, unixSeconds(t)+1) {
			return spec.ResetHTTPDate, ""
		}
		return "", fmt.Sprintf("the HTTP-date %q is not the moment of the refill observed at %s..%s", v, stamp(lo), stamp(hi))
	}
	return "", fmt.Sprintf("%q is neither an integer nor an HTTP-date", v)
}

func stamp(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// retryAfterDelay parses a Retry-After value (RFC 9110 §10.2.3:
// delay-seconds = 1*DIGIT, or an HTTP-date) as seconds from at; a date is
// rounded up to whole seconds, as a client waiting until it would.
func retryAfterDelay(v string, at time.Time) (float64, bool) {
	v = strings.TrimSpace(v)
	if v != "" && strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		return float64(n), err == nil
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return math.Ceil(t.Sub(at).Seconds()), true
}

// mostWithin returns the largest number of times in one half-open
// interval of length w, and where such an interval starts.
func mostWithin(times []time.Time, w time.Duration) (int, time.Time) {
	ts := append([]time.Time(nil), times...)
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, from := 0, time.Time{}
	j := 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		if n := i - j + 1; n > best {
			best, from = n, ts[j]
		}
	}
	return best, from
}
