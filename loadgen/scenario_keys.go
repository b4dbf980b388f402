package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// key-valid, key-invalid, key-mixed: API keys on a protected resource.

var keyValid = &Scenario{
	Name: "key-valid", Help: "valid API keys over every transport of the profile (device keys where it has no user keys)",
	Needs: spec.CapLogin, Expect: "success = 2xx",
	Success: success2xx,
	Prepare: func(ctx context.Context, e *env) (*plan, error) { return prepareKeys(ctx, keyMix{valid: true}, e) },
}

var keyInvalid = &Scenario{
	Name: "key-invalid", Help: "unknown keys with the profile's prefix (success = 401)",
	Needs: spec.CapLogin, Expect: "success = 401 for every invalid key",
	// the point is the refusal
	Success: func(r *vegeta.Result) (bool, string) { return r.Code == 401, "401" },
	Prepare: func(ctx context.Context, e *env) (*plan, error) { return prepareKeys(ctx, keyMix{invalid: true}, e) },
}

var keyMixed = &Scenario{
	Name: "key-mixed", Help: "valid and invalid keys alternately",
	Needs: spec.CapLogin, Expect: "success = 2xx for valid keys, 401 for invalid keys",
	// each request is tagged #valid or #invalid (a fragment: never sent)
	Success: func(r *vegeta.Result) (bool, string) {
		if strings.HasSuffix(r.URL, "#invalid") {
			return r.Code == 401, "401"
		}
		return success2xx(r)
	},
	Prepare: func(ctx context.Context, e *env) (*plan, error) {
		return prepareKeys(ctx, keyMix{valid: true, invalid: true}, e)
	},
}

// keyMix is what a key scenario sends: valid keys, invalid keys, or both
// alternately (each request then tagged #valid or #invalid).
type keyMix struct{ valid, invalid bool }

func (m keyMix) tag(kind string) string {
	if m.valid && m.invalid {
		return kind
	}
	return ""
}

func prepareKeys(ctx context.Context, mix keyMix, e *env) (*plan, error) {
	cs, err := userKeyCreds(ctx, e)
	if err != nil {
		return nil, err
	}
	valid, err := probe(ctx, e, http.MethodGet, cs, "valid API key")
	if err != nil {
		return nil, err
	}
	var ts []vegeta.Target
	if mix.valid {
		for _, c := range valid {
			ts = append(ts, c.target(e, http.MethodGet, mix.tag("valid")))
		}
	}
	p := &plan{}
	if mix.invalid {
		prefix := e.p.UserKeyPrefix
		like := e.t.Principals.Admin.APIKey
		if prefix == "" {
			prefix, like = e.p.DeviceKeyPrefix, e.t.Devices[0].APIKey
		}
		keys := invalidKeys(like, prefix, invalidPool)
		var inv []vegeta.Target
		for i, k := range keys {
			c := valid[i%len(valid)]
			// same transport and URL as a valid credential, unknown key
			h := c.header
			v := k
			if strings.HasPrefix(c.value, "Bearer ") {
				v = "Bearer " + k
			}
			inv = append(inv, cred{rel: c.rel, header: h, value: v}.target(e, http.MethodGet, mix.tag("invalid")))
		}
		if !mix.valid {
			ts = inv
		} else {
			// interleave 1:1 so both paths see the same load
			mixed := make([]vegeta.Target, 0, 2*len(inv))
			for i := range inv {
				mixed = append(mixed, ts[i%len(ts)], inv[i])
			}
			ts = mixed
		}
		p.notes = append(p.notes, fmt.Sprintf("invalid keys: %d random keys with the %q prefix and a real key's length", invalidPool, prefix))
	}
	p.targeter, p.fixed = roundRobin(ts), ts
	p.notes = append(p.notes, fmt.Sprintf("%d valid credential(s) × transport(s) in rotation", len(valid)))
	return p, nil
}
