package reference

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/dunglas/httpsfv"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// TestVariantDraftRateLimit: under draft-ratelimit-headers every
// rate-limited response, admitted or refused, carries RateLimit-Policy and
// RateLimit as Structured Fields Lists that say what X-RateLimit-* says;
// without the variant neither field is sent.
func TestVariantDraftRateLimit(t *testing.T) {
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			limited := func(e *env) resp {
				if p == spec.Iotistica { // the rate-limited key is a device key
					return e.get("/device/"+fixtures.AgentUUIDLimited+"/state", devH(e.tg.RateLimited.APIKey))
				}
				return e.get(e.protected(), e.key(e.tg.RateLimited.APIKey))
			}
			plain := newEnv(t, p)
			if h := limited(plain).h; h.Get(spec.HeaderDraftRateLimit) != "" || h.Get(spec.HeaderDraftRateLimitPolicy) != "" {
				t.Fatalf("without the variant: RateLimit %q, RateLimit-Policy %q", h.Get(spec.HeaderDraftRateLimit), h.Get(spec.HeaderDraftRateLimitPolicy))
			}
			e := newEnv(t, p, withVariants(VariantDraftRateLimit))
			seen429 := false
			for i := 0; i <= fixtures.RateLimitedLimit; i++ {
				r := limited(e)
				seen429 = seen429 || r.code == 429
				pol := one(t, r.h.Values(spec.HeaderDraftRateLimitPolicy))
				rl := one(t, r.h.Values(spec.HeaderDraftRateLimit))
				if q, w := param(t, pol, "q"), param(t, pol, "w"); fmt.Sprint(q) != r.h.Get(spec.HeaderRateLimit) || w != int64(fixtures.RateLimitedWindow.Seconds()) {
					t.Errorf("request %d: RateLimit-Policy q=%d w=%d, X-RateLimit-Limit %s, window %s", i, q, w, r.h.Get(spec.HeaderRateLimit), fixtures.RateLimitedWindow)
				}
				if rem := param(t, rl, "r"); fmt.Sprint(rem) != r.h.Get(spec.HeaderRateRemaining) {
					t.Errorf("request %d: RateLimit r=%d, X-RateLimit-Remaining %s", i, rem, r.h.Get(spec.HeaderRateRemaining))
				}
				tt := param(t, rl, "t")
				if tt < 1 || tt > int64(fixtures.RateLimitedWindow.Seconds()) {
					t.Errorf("request %d: RateLimit t=%d, want 1..window", i, tt)
				}
				if r.code == 429 {
					if ra, _ := strconv.ParseInt(r.h.Get(spec.HeaderRetryAfter), 10, 64); ra != tt {
						t.Errorf("429: RateLimit t=%d, Retry-After %q (the draft: the same moment)", tt, r.h.Get(spec.HeaderRetryAfter))
					}
				}
			}
			if !seen429 {
				t.Errorf("%d requests of the rate-limited key never got 429", fixtures.RateLimitedLimit+1)
			}
		})
	}
}

// one parses a field that must be a one-member List named "default".
func one(t *testing.T, vs []string) httpsfv.Item {
	t.Helper()
	l, err := httpsfv.UnmarshalList(vs)
	if err != nil || len(l) != 1 {
		t.Fatalf("%q: %v (%d members), want a one-member List", vs, err, len(l))
	}
	it, ok := l[0].(httpsfv.Item)
	if !ok || it.Value != "default" {
		t.Fatalf("%q: member %v, want the String \"default\"", vs, l[0])
	}
	return it
}

func param(t *testing.T, it httpsfv.Item, k string) int64 {
	t.Helper()
	v, ok := it.Params.Get(k)
	n, isInt := v.(int64)
	if !ok || !isInt {
		t.Fatalf("parameter %s = %v, want an Integer", k, v)
	}
	return n
}
