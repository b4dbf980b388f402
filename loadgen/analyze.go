package loadgen

import (
	"errors"
	"fmt"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// RateLimitReport is the precision of a rate limiter under load (RATE-005
// and RATE-001/002 header consistency). Windows are told apart by the
// X-RateLimit-Reset header; without it, by the results' timestamps.
type RateLimitReport struct {
	Limit  int           `json:"limit"`
	Window time.Duration `json:"window"`
	// OverAdmitted sums, over every window, the 2xx beyond the limit: a
	// correct limiter scores 0 (MUST).
	OverAdmitted int `json:"overAdmitted"`
	// UnderAdmitted sums, over full windows in which at least twice the
	// limit was asked, the 2xx missing to reach the limit (SHOULD be 0).
	UnderAdmitted int `json:"underAdmitted"`
	// FullWindows counts the windows UnderAdmitted looked at.
	FullWindows int `json:"fullWindows"`
	// HeaderErrors counts responses whose rate-limit headers are
	// inconsistent: missing or non-integral, Limit not the key's limit,
	// Remaining out of range or repeated among admitted requests of one
	// window, Reset in the past, a 429 without Retry-After.
	HeaderErrors   int            `json:"headerErrors"`
	HeaderProblems []string       `json:"headerProblems,omitempty"`
	Windows        []WindowCounts `json:"windows"`
}

// WindowCounts is one window's tally.
type WindowCounts struct {
	Reset    int64 `json:"reset"` // unix seconds (X-RateLimit-Reset), or a bucket number
	Requests int   `json:"requests"`
	Admitted int   `json:"admitted"`
	Refused  int   `json:"refused"`
	Other    int   `json:"other"`
}

type rlWindow struct {
	WindowCounts
	remaining map[int]bool
}

type rateLimitAnalyzer struct {
	limit    int
	window   time.Duration
	windows  map[int64]*rlWindow
	headErrs int
	problems map[string]bool
	noReset  bool
}

func newRateLimitAnalyzer(limit int, window time.Duration) *rateLimitAnalyzer {
	return &rateLimitAnalyzer{limit: limit, window: window, windows: map[int64]*rlWindow{}, problems: map[string]bool{}}
}

func (a *rateLimitAnalyzer) problem(s string) {
	a.headErrs++
	if len(a.problems) < 10 {
		a.problems[s] = true
	}
}

func (a *rateLimitAnalyzer) add(r *vegeta.Result) {
	if r.Code == 0 {
		return // transport error: nothing was admitted or refused
	}
	h := r.Headers
	intHeader := func(name string) (int64, bool) {
		n, err := spec.RateHeader(h, name)
		if err == nil {
			return n, true
		}
		var he *spec.RateHeaderError
		switch {
		case !errors.As(err, &he) || len(he.Values) > 1:
			a.problem(err.Error()) // repeated: no single integer either
		case len(he.Values) == 0 || he.Values[0] == "":
			a.problem(name + " missing")
		default:
			a.problem(fmt.Sprintf("%s %q not an integer", name, he.Values[0]))
		}
		return 0, false
	}
	reset, okReset := intHeader(spec.HeaderRateReset)
	lim, okLim := intHeader(spec.HeaderRateLimit)
	rem, okRem := intHeader(spec.HeaderRateRemaining)
	key := reset
	if !okReset {
		a.noReset = true
		w := a.window
		if w <= 0 {
			w = time.Second
		}
		key = r.Timestamp.UnixNano() / int64(w)
	} else if r.Timestamp.Unix() > reset+1 {
		a.problem("X-RateLimit-Reset in the past")
	}
	if okLim && a.limit > 0 && int(lim) != a.limit {
		a.problem(fmt.Sprintf("X-RateLimit-Limit %d, want %d", lim, a.limit))
	}
	w := a.windows[key]
	if w == nil {
		w = &rlWindow{WindowCounts: WindowCounts{Reset: key}, remaining: map[int]bool{}}
		a.windows[key] = w
	}
	w.Requests++
	switch {
	case r.Code >= 200 && r.Code < 300:
		w.Admitted++
		if okRem {
			if rem < 0 || (a.limit > 0 && int(rem) >= a.limit) {
				a.problem(fmt.Sprintf("X-RateLimit-Remaining %d out of 0..limit-1 on an admitted request", rem))
			} else if w.remaining[int(rem)] {
				a.problem("X-RateLimit-Remaining repeated among admitted requests of one window")
			}
			w.remaining[int(rem)] = true
		}
	case r.Code == 429:
		w.Refused++
		if okRem && rem != 0 {
			a.problem(fmt.Sprintf("X-RateLimit-Remaining %d on a 429, want 0", rem))
		}
		if h.Get(spec.HeaderRetryAfter) == "" {
			a.problem("429 without Retry-After")
		}
	default:
		w.Other++
	}
}

func (a *rateLimitAnalyzer) report() *RateLimitReport {
	rep := &RateLimitReport{Limit: a.limit, Window: a.window, HeaderErrors: a.headErrs, Windows: []WindowCounts{}}
	keys := make([]int64, 0, len(a.windows))
	for k := range a.windows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for i, k := range keys {
		w := a.windows[k]
		rep.Windows = append(rep.Windows, w.WindowCounts)
		if a.limit <= 0 {
			continue
		}
		if w.Admitted > a.limit {
			rep.OverAdmitted += w.Admitted - a.limit
		}
		// The first and last windows may be cut by the attack's start and
		// end; only windows the attack fully covered with at least twice
		// the limit can show under-admission.
		if i > 0 && i < len(keys)-1 && w.Requests >= 2*a.limit {
			rep.FullWindows++
			if w.Admitted < a.limit {
				rep.UnderAdmitted += a.limit - w.Admitted
			}
		}
	}
	for p := range a.problems {
		rep.HeaderProblems = append(rep.HeaderProblems, p)
	}
	sort.Strings(rep.HeaderProblems)
	return rep
}
