package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// ratelimit: the target's rate-limited key at 20x its budget.

var rateLimitScenario = &Scenario{
	Name: "ratelimit", Help: "the target's rate-limited key at 20x its budget: overAdmitted / underAdmitted",
	Needs: spec.CapLogin, Expect: "success = 2xx or 429; precision is in ratelimit",
	Success: func(r *vegeta.Result) (bool, string) {
		return (r.Code >= 200 && r.Code < 300) || r.Code == 429, "2xx or 429"
	},
	Defaults: Defaults{
		// 20x the key's budget, so every window is contended
		Rate: func(t *spec.Target) float64 {
			return 20 * float64(t.RateLimited.Limit) / t.RateLimited.Window.D().Seconds()
		},
		// 3.5 windows (the first and last are cut), at least 5 s
		Duration: func(t *spec.Target) time.Duration {
			return max(DefaultDuration, time.Duration(3.5*float64(t.RateLimited.Window.D())))
		},
	},
	Prepare: prepareRateLimit,
	// precision against the key's budget, which the label carries
	Analyze: func(l Label) analysis { return rateLimitAnalysis{newRateLimitAnalyzer(l.RateLimit, l.RateWindow)} },
}

// rateLimitAnalysis is the ratelimit scenario's analysis: the limiter's
// precision and header consistency over every result (analyze.go), of
// every shard together (they share the one key).
type rateLimitAnalysis struct{ a *rateLimitAnalyzer }

func (r rateLimitAnalysis) add(_ int, res *vegeta.Result) { r.a.add(res) }
func (r rateLimitAnalysis) into(rep *Report)              { rep.RateLimit = r.a.report() }

func prepareRateLimit(ctx context.Context, e *env) (*plan, error) {
	rl := e.t.RateLimited
	var cands []cred
	if e.p.UserKeyPrefix != "" {
		h, v := transportHeader(e.p.Transports[0], rl.APIKey)
		for _, rel := range []string{resourceFor(e.t, "admin"), resourceFor(e.t, "outsider")} {
			cands = append(cands, cred{rel: rel, header: h, value: v})
		}
	} else {
		for _, d := range e.t.Devices {
			c, err := deviceCred(e, d.UUID, rl.APIKey)
			if err != nil {
				return nil, err
			}
			cands = append(cands, c)
		}
	}
	// Find a resource the key may read; its answer also tells when the
	// window resets, so the attack starts in a fresh window.
	var chosen *cred
	var reset http.Header
	for i := range cands {
		c := cands[i]
		resp, err := e.do(ctx, http.MethodGet, c.rel, http.Header{c.header: {c.value}}, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 || resp.StatusCode == 429 {
			chosen, reset = &c, resp.Header
			break
		}
	}
	if chosen == nil {
		return nil, fmt.Errorf("%w: ratelimit: the target's rateLimited.apiKey gets no 2xx on any known resource; check rateLimited in the target file", ErrUsage)
	}
	var notes []string
	if r, err := spec.RateHeader(reset, spec.HeaderRateReset); err == nil {
		wait := time.Until(time.Unix(r, 0)) + 20*time.Millisecond
		if wait > 0 && wait <= rl.Window.D()+time.Second {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			notes = append(notes, "waited for the limiter's window to reset before the attack")
		}
	}
	if e.shard.Count > 1 {
		notes = append(notes, "all shards share the one rate-limited key (its budget is what is measured)")
	}
	notes = append(notes, fmt.Sprintf("rate-limited key: limit %d per %s; attack at %.0f req/s = %.1f× the limit", rl.Limit, rl.Window, e.pace.Asked()*float64(e.shard.Count),
		e.pace.Asked()*float64(e.shard.Count)*rl.Window.D().Seconds()/float64(rl.Limit)))
	// Requests leave in bursts so that they contend for the budget
	// (RATE-005: parallel requests over many connections); the pacer
	// keeps the mean rate.
	burstSize := DefaultBurst
	if burstSize > 2*rl.Limit {
		burstSize = 2 * rl.Limit
	}
	notes = append(notes, fmt.Sprintf("requests leave in bursts of %d (keep --connections >= %d); the pace's plan follows the bursts", burstSize, burstSize))
	only := []vegeta.Target{chosen.target(e, http.MethodGet, "")}
	return &plan{
		targeter: roundRobin(only), fixed: only,
		burst: burstSize,
		notes: notes, rlLimit: rl.Limit, rlWindow: rl.Window.D(),
	}, nil
}
