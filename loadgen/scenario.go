package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// plan is a prepared scenario: what to send and how to read it.
type plan struct {
	targeter vegeta.Targeter
	// fixed, when set, are the targets the targeter rotates through (in
	// order, from the first): the fast engine can send them.
	fixed []vegeta.Target
	// transport, when set, wraps the attacker's transport (refresh reads
	// each new token; mqtt-connect replaces HTTP altogether).
	transport func(http.RoundTripper) http.RoundTripper
	notes     []string
	rlLimit   int
	rlWindow  time.Duration
	// burst > 1 makes the pace bursty (see Pace.Burst).
	burst int
	close func()
}

// env is what scenarios use while preparing: the target and a plain HTTP
// client for set-up calls (logins, provisioning, probes).
type env struct {
	t      *spec.Target
	p      *spec.Profile
	shard  Shard
	client *http.Client
	pace   Pace // this shard's pace
	// notes are added to the plan's; cleanups run after the attack
	// (revoking minted keys).
	notes    []string
	cleanups []func()
}

func (e *env) url(rel string) string { return e.p.URL(e.t.BaseURL, rel) }

// do sends one set-up request and decodes a JSON answer into out (if not
// nil). Errors never contain the body (it may hold a secret).
func (e *env) do(ctx context.Context, method, rel string, hdr http.Header, body any, out any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url(rel), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", method, e.p.BasePath+rel, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp, fmt.Errorf("%s %s: answer is not JSON", method, e.p.BasePath+rel)
		}
	}
	return resp, nil
}

// cred is one credential on one transport against one URL.
type cred struct {
	rel    string
	header string
	value  string
}

func (c cred) target(e *env, method string, frag string) vegeta.Target {
	u := e.url(c.rel)
	if frag != "" {
		u += "#" + frag
	}
	h := http.Header{}
	if c.header != "" {
		h.Set(c.header, c.value)
	}
	return vegeta.Target{Method: method, URL: u, Header: h}
}

// transportHeader returns the header name and value for a credential by
// transport t (spec.Transport.Header: custom header transports too).
func transportHeader(t spec.Transport, key string) (string, string) {
	name, scheme, ok := t.Header()
	if !ok {
		return "Authorization", "Bearer " + key
	}
	if scheme != "" {
		return name, scheme + " " + key
	}
	return name, key
}

type principal struct {
	name string
	spec.Principal
}

func principals(t *spec.Target) []principal {
	return []principal{{"admin", t.Principals.Admin}, {"member", t.Principals.Member}, {"outsider", t.Principals.Outsider}}
}

// resourceFor is a protected resource a principal's user credential may
// read: the profile's protected resource, and for the outsider its own
// (resources.outsiderHome).
func resourceFor(t *spec.Target, name string) string {
	p, err := spec.Get(t.Profile)
	if err != nil {
		return "/"
	}
	r := &p.Resources
	if name == "outsider" {
		return r.Path(r.OutsiderHome, t)
	}
	return r.Path(r.Protected, t)
}

// userKeyCreds returns every (principal key × transport) credential, or
// device keys where the profile has no user keys, partitioned by shard;
// a shard beyond the target's credentials mints its own (mint.go).
func userKeyCreds(ctx context.Context, e *env) ([]cred, error) {
	if e.p.UserKeyPrefix == "" {
		// The rate-limited key may be one of the devices: leave it out,
		// its small budget would turn the attack into 429s.
		var all []spec.Device
		for _, d := range e.t.Devices {
			if d.APIKey != e.t.RateLimited.APIKey {
				all = append(all, d)
			}
		}
		devs, err := Partition(e.shard, all, "device keys")
		if err != nil {
			if !e.p.Can(spec.CapProvisioning) {
				return nil, err
			}
			prov, perr := provisionDevices(ctx, e, 1)
			if perr != nil || len(prov) == 0 {
				return nil, fmt.Errorf("%w: shard %s: the target has %d device keys and registering a device of the shard's own failed (%v); use at most %d shards", ErrUsage, e.shard, len(all), perr, len(all))
			}
			for _, d := range prov {
				devs = append(devs, spec.Device{UUID: d.uuid, APIKey: d.username})
			}
			e.notes = append(e.notes, fmt.Sprintf("shard %s registered %d device(s) of its own through the provisioning API", e.shard, len(prov)))
		}
		var out []cred
		for _, d := range devs {
			c, err := deviceCred(e, d.UUID, d.APIKey)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	var keyed []principal
	for _, p := range principals(e.t) {
		if p.APIKey != e.t.RateLimited.APIKey {
			keyed = append(keyed, p)
		}
	}
	ps, err := Partition(e.shard, keyed, "principals (each has one API key)")
	if err != nil {
		if !canMintUserKeys(e.p) || len(keyed) == 0 {
			return nil, err
		}
		p, note, merr := mintedUserKeyPrincipal(ctx, e, keyed)
		if merr != nil {
			return nil, merr
		}
		ps = []principal{p}
		e.notes = append(e.notes, note)
	}
	var out []cred
	for _, p := range ps {
		for _, tr := range e.p.Transports {
			h, v := transportHeader(tr, p.APIKey)
			out = append(out, cred{rel: resourceFor(e.t, p.name), header: h, value: v})
		}
	}
	return out, nil
}

// deviceCred is a device key on the device's own state path (the
// profile's device state template, in its device key header).
func deviceCred(e *env, uuid, key string) (cred, error) {
	rel := e.p.DeviceStatePath(uuid)
	if rel == "" {
		return cred{}, fmt.Errorf("%w: the %s profile has neither user API keys nor device keys to load", ErrUsage, e.p.Name)
	}
	return cred{rel: rel, header: e.p.DeviceKeyHeader, value: key}, nil
}

// provisioningAdmin is what creating provisioning keys takes: the
// profile's provisioning paths (a usage error naming scenario where it has
// none) and the fixtures admin's freshly logged-in bearer header.
func provisioningAdmin(ctx context.Context, e *env, scenario string) (create, redeem string, auth http.Header, err error) {
	create, redeem, ok := e.p.ProvisioningPaths()
	if !ok {
		return "", "", nil, fmt.Errorf("%w: %s needs a profile with provisioning; %s has none", ErrUsage, scenario, e.p.Name)
	}
	lr, err := login(ctx, e, principal{"admin", e.t.Principals.Admin})
	if err != nil {
		return "", "", nil, err
	}
	return create, redeem, http.Header{"Authorization": {"Bearer " + lr.access}}, nil
}

// probe keeps the credentials that get a 2xx, so the attack measures the
// success path only; it fails when none does.
func probe(ctx context.Context, e *env, method string, cs []cred, what string) ([]cred, error) {
	var ok []cred
	var last int
	for _, c := range cs {
		resp, err := e.do(ctx, method, c.rel, http.Header{c.header: {c.value}}, nil, nil)
		if err != nil {
			return nil, err
		}
		last = resp.StatusCode
		if resp.StatusCode/100 == 2 {
			ok = append(ok, c)
		}
	}
	if len(ok) == 0 {
		return nil, fmt.Errorf("%w: no %s of the target gets a 2xx (last status %d); check the target file", ErrUsage, what, last)
	}
	return ok, nil
}

// roundRobin is a Targeter over fixed targets, safe for concurrent use.
func roundRobin(ts []vegeta.Target) vegeta.Targeter {
	var i atomic.Uint64
	return func(t *vegeta.Target) error {
		if t == nil {
			return vegeta.ErrNilTarget
		}
		*t = ts[(i.Add(1)-1)%uint64(len(ts))]
		return nil
	}
}

const invalidPool = 1024

// invalidKeys returns n random keys shaped like real (prefix and length),
// drawn from the key alphabet; they are unknown to the server with
// overwhelming probability.
func invalidKeys(like string, prefix string, n int) []string {
	size := len(like) - len(prefix)
	if size < 16 {
		size = 32
	}
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + spec.RandomBase62(size)
	}
	return out
}

// loginBody is the login request of every profile with login.
func loginBody(p principal) map[string]string {
	return map[string]string{"email": p.Email, "password": p.Password}
}

type loginResult struct {
	access, refresh string
}

func login(ctx context.Context, e *env, p principal) (loginResult, error) {
	var out map[string]any
	resp, err := e.do(ctx, http.MethodPost, e.p.Login.Path, nil, loginBody(p), &out)
	if err != nil {
		return loginResult{}, err
	}
	if resp.StatusCode/100 != 2 {
		return loginResult{}, fmt.Errorf("%w: login of the %s principal got %d; check principals.%s in the target file", ErrUsage, p.name, resp.StatusCode, p.name)
	}
	s := func(k string) string { v, _ := out[k].(string); return v }
	lr := loginResult{access: s(e.p.Login.AccessField)}
	if e.p.Login.RefreshField != "" {
		lr.refresh = s(e.p.Login.RefreshField)
	}
	if lr.access == "" {
		return loginResult{}, fmt.Errorf("%w: login answer has no %q field", ErrUsage, e.p.Login.AccessField)
	}
	return lr, nil
}

func needLogin(e *env, scenario string) error {
	if e.p.Login == nil {
		return fmt.Errorf("%w: %s needs a profile with login; %s has none (use --profile roboticks, rigbox or iotistica)", ErrUsage, scenario, e.p.Name)
	}
	return nil
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// DefaultRacers is how many redemptions race for each provisioning key.
const DefaultRacers = 8

// DefaultBurst is how many ratelimit requests leave together (at most
// twice the key's limit).
const DefaultBurst = 32
