package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// Scenarios lists every scenario `authconform load` knows, in help order.
var Scenarios = []string{"key-valid", "key-invalid", "key-mixed", "jwt-verify", "login", "refresh", "ratelimit", "provision-race", "mqtt-connect"}

// KnownScenario reports whether name is a scenario.
func KnownScenario(name string) bool {
	for _, s := range Scenarios {
		if s == name {
			return true
		}
	}
	return false
}

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
			out = append(out, cred{rel: "/device/" + d.UUID + "/state", header: e.p.DeviceKeyHeader, value: d.APIKey})
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
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	size := len(like) - len(prefix)
	if size < 16 {
		size = 32
	}
	out := make([]string, n)
	for i := range out {
		b := make([]byte, size)
		for j := range b {
			k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
			b[j] = alphabet[k.Int64()]
		}
		out[i] = prefix + string(b)
	}
	return out
}

func prepare(ctx context.Context, scenario string, e *env) (*plan, error) {
	switch scenario {
	case "key-valid", "key-invalid", "key-mixed":
		return prepareKeys(ctx, scenario, e)
	case "jwt-verify":
		return prepareJWT(ctx, e)
	case "login":
		return prepareLogin(ctx, e)
	case "refresh":
		return prepareRefresh(ctx, e)
	case "ratelimit":
		return prepareRateLimit(ctx, e)
	case "provision-race":
		return prepareProvision(ctx, e)
	case "mqtt-connect":
		return prepareMQTT(ctx, e)
	}
	return nil, fmt.Errorf("%w: unknown scenario %q; use one of %s", ErrUsage, scenario, strings.Join(Scenarios, ", "))
}

func prepareKeys(ctx context.Context, scenario string, e *env) (*plan, error) {
	cs, err := userKeyCreds(ctx, e)
	if err != nil {
		return nil, err
	}
	valid, err := probe(ctx, e, http.MethodGet, cs, "valid API key")
	if err != nil {
		return nil, err
	}
	var ts []vegeta.Target
	if scenario != "key-invalid" {
		for _, c := range valid {
			ts = append(ts, c.target(e, http.MethodGet, tagFor(scenario, "valid")))
		}
	}
	p := &plan{}
	if scenario != "key-valid" {
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
			inv = append(inv, cred{rel: c.rel, header: h, value: v}.target(e, http.MethodGet, tagFor(scenario, "invalid")))
		}
		if scenario == "key-invalid" {
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

func tagFor(scenario, kind string) string {
	if scenario == "key-mixed" {
		return kind
	}
	return ""
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

func prepareJWT(ctx context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "jwt-verify"); err != nil {
		return nil, err
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	var cs []cred
	for _, p := range ps {
		lr, err := login(ctx, e, p)
		if err != nil {
			return nil, err
		}
		cs = append(cs, cred{rel: resourceFor(e.t, p.name), header: "Authorization", value: "Bearer " + lr.access})
	}
	valid, err := probe(ctx, e, http.MethodGet, cs, "JWT")
	if err != nil {
		return nil, err
	}
	var ts []vegeta.Target
	for _, c := range valid {
		ts = append(ts, c.target(e, http.MethodGet, ""))
	}
	return &plan{targeter: roundRobin(ts), fixed: ts, notes: []string{fmt.Sprintf("logged in once per principal; %d JWT(s) in rotation", len(valid))}}, nil
}

func prepareLogin(_ context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "login"); err != nil {
		return nil, err
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	var ts []vegeta.Target
	for _, p := range ps {
		b, _ := json.Marshal(loginBody(p))
		ts = append(ts, vegeta.Target{Method: http.MethodPost, URL: e.url(e.p.Login.Path), Body: b,
			Header: http.Header{"Content-Type": {"application/json"}}})
	}
	return &plan{targeter: roundRobin(ts), fixed: ts, notes: []string{
		"login is bound by password hashing (a deliberately slow KDF such as bcrypt): its throughput measures the hash, not the auth path; compare it with jwt-verify",
	}}, nil
}

// chain is one refresh session: the token to present next. Refreshes of a
// chain are strictly sequential, because a rotating refresh token may be
// used once (iotistica revokes the family on reuse, JWT-011).
type chain struct {
	id  int
	mu  sync.Mutex
	tok string
}

func prepareRefresh(ctx context.Context, e *env) (*plan, error) {
	if err := needLogin(e, "refresh"); err != nil {
		return nil, err
	}
	if e.p.Login.RefreshPath == "" {
		return nil, fmt.Errorf("%w: refresh: the %s profile has no refresh endpoint (use --profile roboticks or iotistica)", ErrUsage, e.p.Name)
	}
	ps, notes := sessionPrincipals(e, principals(e.t))
	e.notes = append(e.notes, notes...)
	const perPrincipal = 4
	var chains []*chain
	for i := 0; i < perPrincipal*len(ps); i++ {
		lr, err := login(ctx, e, ps[i%len(ps)])
		if err != nil {
			return nil, err
		}
		tok := lr.access
		if e.p.Login.RefreshStyle == spec.RefreshBodyToken {
			tok = lr.refresh
		}
		chains = append(chains, &chain{id: i, tok: tok})
	}
	free := make(chan *chain, len(chains))
	for _, c := range chains {
		free <- c
	}
	style := e.p.Login.RefreshStyle
	url := e.url(e.p.Login.RefreshPath)
	bodyField := e.p.Login.RefreshBodyIn
	nextField := e.p.Login.AccessField
	if style == spec.RefreshBodyToken {
		nextField = e.p.Login.RefreshField
	}
	done := make(chan struct{})
	targeter := func(t *vegeta.Target) error {
		c, err := takeFree(free, done)
		if err != nil {
			return err
		}
		c.mu.Lock()
		tok := c.tok
		c.mu.Unlock()
		*t = vegeta.Target{Method: http.MethodPost, URL: fmt.Sprintf("%s#c=%d", url, c.id), Header: http.Header{}}
		if style == spec.RefreshBodyToken {
			t.Body, _ = json.Marshal(map[string]string{bodyField: tok})
			t.Header.Set("Content-Type", "application/json")
		} else {
			t.Header.Set("Authorization", "Bearer "+tok)
		}
		return nil
	}
	wrap := func(next http.RoundTripper) http.RoundTripper {
		return rtFunc(func(req *http.Request) (*http.Response, error) {
			var c *chain
			var id int
			if _, err := fmt.Sscanf(req.URL.Fragment, "c=%d", &id); err == nil && id >= 0 && id < len(chains) {
				c = chains[id]
			}
			resp, err := next.RoundTrip(req)
			if c == nil {
				return resp, err
			}
			defer func() { free <- c }()
			if err != nil || resp.StatusCode/100 != 2 {
				return resp, err
			}
			// bounded here too (the attacker's transport caps it as well):
			// a token answer is small, an endless body must not be read
			b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(b))
			if rerr != nil {
				return resp, nil
			}
			var out map[string]any
			if json.Unmarshal(b, &out) == nil {
				if s, ok := out[nextField].(string); ok && s != "" {
					c.mu.Lock()
					c.tok = s
					c.mu.Unlock()
				}
			}
			return resp, nil
		})
	}
	return &plan{targeter: targeter, transport: wrap, close: func() { close(done) }, notes: []string{
		fmt.Sprintf("%d refresh chains (%d logins); each chain refreshes sequentially with its newest token, so at most %d refreshes are in flight", len(chains), len(chains), len(chains)),
		"a request that waits for a free chain counts the wait in its latency (vegeta stamps a request before asking the targeter)",
	}}, nil
}

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

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
			cands = append(cands, cred{rel: "/device/" + d.UUID + "/state", header: e.p.DeviceKeyHeader, value: rl.APIKey})
		}
	}
	// Find a resource the key may read; its answer also tells when the
	// window resets, so the attack starts in a fresh window.
	var chosen *cred
	var reset string
	for i := range cands {
		c := cands[i]
		resp, err := e.do(ctx, http.MethodGet, c.rel, http.Header{c.header: {c.value}}, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode/100 == 2 || resp.StatusCode == 429 {
			chosen, reset = &c, resp.Header.Get(spec.HeaderRateReset)
			break
		}
	}
	if chosen == nil {
		return nil, fmt.Errorf("%w: ratelimit: the target's rateLimited.apiKey gets no 2xx on any known resource; check rateLimited in the target file", ErrUsage)
	}
	var notes []string
	var r int64
	if _, err := fmt.Sscan(reset, &r); err == nil {
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

// DefaultRacers is how many redemptions race for each provisioning key.
const DefaultRacers = 8

// DefaultBurst is how many ratelimit requests leave together (at most
// twice the key's limit).
const DefaultBurst = 32

func prepareProvision(ctx context.Context, e *env) (*plan, error) {
	if e.p.ProvisioningKeyPrefix == "" {
		return nil, fmt.Errorf("%w: provision-race needs the iotistica profile; %s has no provisioning (use --profile iotistica)", ErrUsage, e.p.Name)
	}
	lr, err := login(ctx, e, principal{"admin", e.t.Principals.Admin})
	if err != nil {
		return nil, err
	}
	auth := http.Header{"Authorization": {"Bearer " + lr.access}}
	n := int(e.pace.Planned())/DefaultRacers + 2
	if n > 5000 {
		return nil, fmt.Errorf("%w: provision-race would need %d provisioning keys; lower --rate or --duration (at most %d requests)", ErrUsage, n, 5000*DefaultRacers)
	}
	keys := make([]string, n)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	sem := make(chan struct{}, 8)
	for i := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			var out struct {
				Key string `json:"key"`
			}
			resp, err := e.do(ctx, http.MethodPost, "/provision/keys", auth, map[string]any{}, &out)
			if err == nil && (resp.StatusCode/100 != 2 || out.Key == "") {
				err = fmt.Errorf("%w: creating a provisioning key got %d", ErrUsage, resp.StatusCode)
			}
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			keys[i] = out.Key
		}(i)
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	// The racers of one key leave together (a bursty pace), so the
	// redemptions really overlap whatever the rate.
	var i atomic.Uint64
	url := e.url("/provision/agent")
	targeter := func(t *vegeta.Target) error {
		j := i.Add(1) - 1
		k := int(j / DefaultRacers)
		if k >= len(keys) {
			return vegeta.ErrNoTargets
		}
		body, _ := json.Marshal(map[string]string{"key": keys[k], "agentName": fmt.Sprintf("load-%d-%d-%d", e.shard.Index, k, j%DefaultRacers)})
		*t = vegeta.Target{Method: http.MethodPost, URL: fmt.Sprintf("%s#k=%d", url, k), Body: body, Header: http.Header{"Content-Type": {"application/json"}}}
		return nil
	}
	return &plan{targeter: targeter, burst: DefaultRacers, notes: []string{
		fmt.Sprintf("%d provisioning keys, %d consecutive redemptions race for each; exactly one per key may succeed", n, DefaultRacers),
		fmt.Sprintf("requests leave in bursts of %d, one burst per key (the pace's plan follows the bursts)", DefaultRacers),
		"each successful redemption registers a device: a license's maxDevices turns later ones into 403 (counted as forbidden)",
	}}, nil
}
