// Package provkit holds the iotistica provisioning helpers that the
// provisioning and license specs share: minting and redeeming provisioning
// keys, racing requests released together, and minting license JWTs with a
// key pair the suite generates itself.
//
// It registers no specs (importing it does not pull the provisioning area
// into a test binary). Helpers that assert use Gomega with an offset, so a
// failure points at the spec line; they must run on the spec goroutine.
// Race is the only helper meant to run requests concurrently, and it makes
// no Ginkgo or Gomega call off the spec goroutine.
package provkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// KeysPath is where provisioning keys are created (POST with an admin
// JWT -> {key, expiresAt}), RedeemPath where they are redeemed (POST {key,
// agentName} -> {apiKey, agentUuid, mqttPassword}): the profile's
// provisioning endpoints, relative to its base path (seed 003's
// /provision/keys and /provision/agent unless the document moves them).
func KeysPath(c *framework.Ctx) string {
	create, _, _ := c.Profile.ProvisioningPaths()
	return create
}

// RedeemPath: see KeysPath.
func RedeemPath(c *framework.Ctx) string {
	_, redeem, _ := c.Profile.ProvisioningPaths()
	return redeem
}

// TTLField is the ref-defined body field of POST /provision/keys that asks
// for a short-lived key (seconds). An implementation may ignore it; specs
// that need it skip when expiresAt shows it was ignored.
const TTLField = "ttlSeconds"

// Instance is one running implementation a spec talks to: the context's
// target, or a fresh deployment of it.
type Instance struct {
	C  *framework.Ctx
	T  *spec.Target
	Cl *framework.Client
	// Deployed is true when T was started by Deploy for this spec or
	// container (so it may be filled with devices freely).
	Deployed bool
}

// Target returns an Instance for the context's own target.
func Target(c *framework.Ctx) *Instance {
	return &Instance{C: c, T: c.Target(), Cl: c.Client()}
}

// Deploy starts a fresh deployment of the context's profile with vars and
// registers its stop with DeferCleanup. Call it from a setup or subject
// node. The deployment lives until that cleanup runs, not until ctx ends:
// the embedded environment stops a deployment when the context given to
// Env.Deploy is done, and a BeforeAll's SpecContext is done as soon as the
// BeforeAll returns. ctx's values are kept, its cancellation is not.
func Deploy(ctx context.Context, c *framework.Ctx, vars map[string]string) *Instance {
	t, stop, err := c.Env.Deploy(context.WithoutCancel(ctx), vars)
	if err != nil {
		// The suite could not set up what the check needs: error, not a
		// failure of the implementation's property.
		framework.Inconclusive("deploying a fresh %s instance: %v", c.Name(), err)
	}
	DeferCleanup(stop)
	cl := c.Client().For(t)
	// Cleanups run last-in first-out: the client's idle connections are
	// closed before stop. A race leaves connections the transport dialled
	// but never used; a server that shuts down gracefully waits seconds
	// for such never-used connections (net/http treats them as active).
	DeferCleanup(cl.HTTP.CloseIdleConnections)
	for _, v := range vars {
		// LICENSE_KEY and friends are secrets too.
		if len(v) >= 16 {
			cl.AddSecret(v)
		}
	}
	return &Instance{C: c, T: t, Cl: cl, Deployed: true}
}

// jwtLike matches a compact JWS or any long leading part of one.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]*){0,2}`)

// maskJWTs masks every JWT-looking string of a transcript, also one the
// client does not know as a secret (a token under a field name it does
// not know, or one the suite minted itself). The secrets a response
// reveals under the names the client knows (provisioning key, device key,
// MQTT password, tokens) the client masks itself, before it renders the
// transcript.
func maskJWTs(s string) string {
	return jwtLike.ReplaceAllStringFunc(s, func(t string) string { return t[:6] + "…(masked)" })
}

// Do is framework.Client.Do, except that every JWT-looking string is
// masked in the recorded exchange as well (maskJWTs) and that a transport
// error ends the spec as error (inconclusive).
func (in *Instance) Do(r framework.Req) *framework.Resp {
	resp, err := in.Cl.Try(context.Background(), r)
	if err != nil {
		framework.Inconclusive("%s", err.Error())
	}
	resp.Exchange = maskJWTs(resp.Exchange)
	AddReportEntry("exchange", resp.Exchange, ReportEntryVisibilityNever)
	return resp
}

// Post sends POST path with a JSON body through Do.
func (in *Instance) Post(path string, h http.Header, body any) *framework.Resp {
	return in.Do(framework.Req{Method: http.MethodPost, Path: path, Header: h, JSON: body})
}

// Get sends GET path through Do.
func (in *Instance) Get(path string, h http.Header) *framework.Resp {
	return in.Do(framework.Req{Method: http.MethodGet, Path: path, Header: h})
}

// Judgeable ends the spec as error when r is a 429 or a 5xx: the answer
// to a request that should succeed says nothing about the check then
// (SPEC.md §4, attribution).
func Judgeable(r *framework.Resp, what string) {
	GinkgoHelper()
	switch {
	case r.Status == http.StatusTooManyRequests:
		framework.Inconclusive("%s: rate limited (429), so the check cannot be judged\n%s", what, r.Exchange)
	case r.Status >= 500:
		framework.Inconclusive("%s: the target failed (%d), so the check cannot be judged\n%s", what, r.Status, r.Exchange)
	}
}

// Login logs p in through the profile's login endpoint and returns the
// Bearer header of the access token. It is a positive control: a failed
// login ends the spec as error. The issued tokens are masked in the
// recorded exchange as well.
func (in *Instance) Login(p spec.Principal) http.Header {
	GinkgoHelper()
	l := in.C.Profile.Login
	framework.ControlOK(l != nil, "profile %s has no login", in.C.Name())
	r := in.Post(l.Path, nil, map[string]string{"email": p.Email, "password": p.Password})
	framework.Control(r, "login as "+p.Email, http.StatusOK)
	tok := framework.ParseTokens(l, r)
	framework.ControlOK(tok.Access != "", "login as %s: the response has no %q\n%s", p.Email, l.AccessField, r.Exchange)
	in.Cl.AddSecret(tok.Access, tok.Refresh)
	return framework.Cred(spec.TransportBearer, tok.Access)
}

// AdminAuth logs the instance's admin in and returns the Bearer header.
func (in *Instance) AdminAuth() http.Header {
	GinkgoHelper()
	return in.Login(in.T.Principals.Admin)
}

// MemberAuth logs the instance's member (not an admin) in.
func (in *Instance) MemberAuth() http.Header {
	GinkgoHelper()
	return in.Login(in.T.Principals.Member)
}

// ProvKey is a provisioning key as POST /provision/keys returned it.
type ProvKey struct {
	Key string
	// ExpiresAt is the parsed expiresAt (zero when it could not be parsed).
	ExpiresAt time.Time
	// ExpiresRaw is expiresAt as sent; ExpiresRFC3339 whether it is an
	// RFC 3339 timestamp (the reference's format; the seed shows "...").
	ExpiresRaw     any
	ExpiresRFC3339 bool
	Resp           *framework.Resp
}

// CreateKeyResp sends POST /provision/keys with headers h and body (nil:
// an empty JSON object) and returns the response unchecked.
func (in *Instance) CreateKeyResp(h http.Header, body map[string]any) *framework.Resp {
	if body == nil {
		body = map[string]any{}
	}
	return in.Post(KeysPath(in.C), h, body)
}

// Created are the statuses of a successful creation: seed 003 shows the
// answer's body but no status.
var Created = []int{http.StatusCreated, http.StatusOK}

// CreateKey creates a provisioning key with admin headers h as a positive
// control: unless the answer is 2xx with a "prov_" key, the spec ends as
// error. PROV-001 asserts the same with CheckKey as its MUST.
func (in *Instance) CreateKey(h http.Header, body map[string]any) ProvKey {
	GinkgoHelper()
	r := in.CreateKeyResp(h, body)
	framework.Control(r, "POST "+KeysPath(in.C)+" with an admin JWT (creating a provisioning key)", Created...)
	k, err := ParseKey(in.C.Profile, r)
	framework.ControlOK(err == nil, "POST %s with an admin JWT: %v\n%s", KeysPath(in.C), err, r.Exchange)
	return k
}

// ParseKey reads a 2xx answer of POST /provision/keys: the key must carry
// the profile's provisioning prefix and a secret part, and expiresAt must
// be present (seed 003). Its format is not given by the seed: RFC 3339,
// a date-time without zone (read as UTC) and epoch seconds or milliseconds
// are understood; ExpiresAt stays zero for anything else.
func ParseKey(p *spec.Profile, r *framework.Resp) (ProvKey, error) {
	k := ProvKey{Key: r.String("key"), Resp: r}
	if !strings.HasPrefix(k.Key, p.ProvisioningKeyPrefix) || len(k.Key) <= len(p.ProvisioningKeyPrefix) {
		return k, fmt.Errorf("\"key\" must be a provisioning key: the %q prefix and a secret part (seed 003)", p.ProvisioningKeyPrefix)
	}
	raw, ok := r.JSONMap()["expiresAt"]
	if !ok || raw == nil {
		return k, fmt.Errorf("the answer has no \"expiresAt\" (seed 003)")
	}
	k.ExpiresRaw = raw
	k.ExpiresAt, k.ExpiresRFC3339 = parseTime(raw)
	return k, nil
}

func parseTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
			return t, true
		}
		for _, f := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if t, err := time.Parse(f, x); err == nil {
				return t, false
			}
		}
	case float64:
		switch {
		case x > 1e14: // microseconds or more: not a plausible format
		case x > 1e11:
			return time.UnixMilli(int64(x)), false
		case x > 0:
			return time.Unix(int64(x), 0), false
		}
	}
	return time.Time{}, false
}

// Redeemed is what POST /provision/agent returned.
type Redeemed struct {
	APIKey    string
	AgentUUID string
	// MQTTPassword is the ref-defined mqttPassword ("" when absent).
	MQTTPassword string
	Resp         *framework.Resp
}

// RedeemReq is the self-registration request of seed 003 (no credential
// but the provisioning key in the body).
func RedeemReq(c *framework.Ctx, key, agentName string) framework.Req {
	return framework.Req{Method: http.MethodPost, Path: RedeemPath(c), JSON: map[string]string{"key": key, "agentName": agentName}}
}

// RedeemResp redeems key and returns the response unchecked; secrets in a
// successful answer are added to the client's masked secrets.
func (in *Instance) RedeemResp(key, agentName string) *framework.Resp {
	return in.Do(RedeemReq(in.C, key, agentName))
}

// ParseRedeemed reads a 2xx answer of POST /provision/agent: an apiKey
// with the device-key prefix and the new agent's agentUuid (seed 003).
func ParseRedeemed(p *spec.Profile, r *framework.Resp) (Redeemed, error) {
	out := Redeemed{APIKey: r.String("apiKey"), AgentUUID: r.String("agentUuid"), MQTTPassword: r.String("mqttPassword"), Resp: r}
	if !strings.HasPrefix(out.APIKey, p.DeviceKeyPrefix) || len(out.APIKey) <= len(p.DeviceKeyPrefix) {
		return out, fmt.Errorf("\"apiKey\" must be a device key with the %q prefix (seed 003)", p.DeviceKeyPrefix)
	}
	if out.AgentUUID == "" {
		return out, fmt.Errorf("\"agentUuid\" must name the new agent (seed 003)")
	}
	return out, nil
}

// Redeem redeems key as a positive control: unless the answer is 2xx with
// an iotsk_live_ API key and an agent UUID, the spec ends as error.
// PROV-002 asserts the same as its MUST.
func (in *Instance) Redeem(key, agentName string) Redeemed {
	GinkgoHelper()
	r := in.RedeemResp(key, agentName)
	framework.Control(r, "POST "+RedeemPath(in.C)+" with a fresh provisioning key (registering an agent)", Created...)
	out, err := ParseRedeemed(in.C.Profile, r)
	framework.ControlOK(err == nil, "POST %s: %v\n%s", RedeemPath(in.C), err, r.Exchange)
	return out
}

// NewAgent creates a provisioning key with admin headers h and redeems
// it, both as controls: an agent created by the check.
func (in *Instance) NewAgent(h http.Header, tag string) Redeemed {
	GinkgoHelper()
	return in.Redeem(in.CreateKey(h, nil).Key, AgentName(tag))
}

// DeviceState sends GET of the device state path (the profile's
// deviceState) with the device key.
func (in *Instance) DeviceState(uuid, deviceKey string) *framework.Resp {
	return in.Get(in.C.DeviceStatePath(uuid), framework.Cred(spec.TransportDeviceKey, deviceKey))
}

// DeviceKey is a device key created with POST /auth/api-keys.
type DeviceKey struct {
	APIKey string
	// ID and MQTTPassword are ref-defined fields of the answer ("" when
	// absent).
	ID, MQTTPassword string
	// Field is where the key was found (the reference: "apiKey").
	Field string
	Resp  *framework.Resp
}

// CreateDeviceKeyResp sends POST /auth/api-keys {name, agentUuid} (seed
// 003) with headers h.
func (in *Instance) CreateDeviceKeyResp(h http.Header, agentUUID string) *framework.Resp {
	return in.Post(in.C.Profile.Keys.Create, h, map[string]string{"name": AgentName("key"), "agentUuid": agentUUID})
}

// ParseDeviceKey finds the new device key in a 2xx answer of POST
// /auth/api-keys: the seed shows no answer, so the key is any string with
// the device-key prefix (the reference's field "apiKey" preferred).
func ParseDeviceKey(p *spec.Profile, r *framework.Resp) (DeviceKey, error) {
	secret, id, field := framework.NewKeyIn(r.Body, p.DeviceKeyPrefix, p.Keys.SecretJSON)
	k := DeviceKey{APIKey: secret, ID: id, Field: field, MQTTPassword: r.String("mqttPassword"), Resp: r}
	if secret == "" {
		return k, fmt.Errorf("the answer carries no device key (a string with the %q prefix)", p.DeviceKeyPrefix)
	}
	return k, nil
}

// DeviceKeyFrom is ParseDeviceKey that also masks the key and its MQTT
// password in every later exchange.
func (in *Instance) DeviceKeyFrom(r *framework.Resp) (DeviceKey, error) {
	k, err := ParseDeviceKey(in.C.Profile, r)
	in.Cl.AddSecret(k.APIKey, k.MQTTPassword)
	return k, err
}

var nameSeq atomic.Int64

// AgentName returns a unique agent name with a readable tag, so agents
// created by the suite are recognisable on a shared target.
func AgentName(tag string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("authconform-%s-%d-%s", tag, nameSeq.Add(1), hex.EncodeToString(b[:]))
}

// Tally counts the outcomes of a race exactly.
type Tally struct {
	N      int
	Counts map[int]int // status -> count
	// Errors are transport errors (no HTTP answer), masked.
	Errors []string
	// Samples holds one masked exchange per status.
	Samples map[int]string
	// Bodies are the responses in request order (nil on transport error).
	Resps []*framework.Resp
}

// Success is the number of 2xx answers.
func (t Tally) Success() int {
	n := 0
	for s, c := range t.Counts {
		if s >= 200 && s < 300 {
			n += c
		}
	}
	return n
}

// ServerErrors is the number of 5xx answers.
func (t Tally) ServerErrors() int {
	n := 0
	for s, c := range t.Counts {
		if s >= 500 {
			n += c
		}
	}
	return n
}

// String renders the counts and one exchange per status, for failure
// messages.
func (t Tally) String() string {
	var codes []int
	for s := range t.Counts {
		codes = append(codes, s)
	}
	sort.Ints(codes)
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests:", t.N)
	for _, s := range codes {
		fmt.Fprintf(&b, " %d×%d", t.Counts[s], s)
	}
	if len(t.Errors) > 0 {
		fmt.Fprintf(&b, " %d×transport error (first: %s)", len(t.Errors), t.Errors[0])
	}
	for _, s := range codes {
		fmt.Fprintf(&b, "\n--- one exchange with status %d:\n%s", s, t.Samples[s])
	}
	return b.String()
}

// Race sends every request from its own goroutine through cl.Try. The goroutines are all
// started and blocked on one channel first, then released together by
// closing it, so the requests really overlap. It makes no Ginkgo call off
// the spec goroutine; call it on the spec goroutine. Secrets revealed by
// the answers are added to cl's masked secrets; the tally is recorded in
// the spec report.
func Race(ctx context.Context, cl *framework.Client, reqs []framework.Req) Tally {
	if len(reqs) == 0 {
		return Tally{Counts: map[int]int{}, Samples: map[int]string{}}
	}
	warm(ctx, cl, reqs[0].Path, len(reqs))
	resps, errs := release(ctx, cl, reqs)

	t := Tally{N: len(reqs), Counts: map[int]int{}, Samples: map[int]string{}, Resps: resps}
	for i := range reqs {
		if errs[i] != nil {
			t.Errors = append(t.Errors, spec.Mask(errs[i].Error(), cl.Secrets))
			continue
		}
		r := resps[i]
		// Each exchange was rendered while the other racers' answers were
		// still coming: mask every secret any of them revealed.
		r.Exchange = maskJWTs(spec.Mask(r.Exchange, cl.Secrets))
		t.Counts[r.Status]++
		if _, ok := t.Samples[r.Status]; !ok {
			t.Samples[r.Status] = r.Exchange
		}
	}
	AddReportEntry("race", t.String(), ReportEntryVisibilityNever)
	return t
}

// release sends reqs from one goroutine each, all released together.
func release(ctx context.Context, cl *framework.Client, reqs []framework.Req) ([]*framework.Resp, []error) {
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	resps := make([]*framework.Resp, len(reqs))
	errs := make([]error, len(reqs))
	for i := range reqs {
		ready.Add(1)
		done.Add(1)
		go func(i int) {
			defer done.Done()
			ready.Done()
			<-start
			resps[i], errs[i] = cl.Try(ctx, reqs[i])
		}(i)
	}
	ready.Wait()
	close(start)
	done.Wait()
	return resps, errs
}

// warm opens n connections to the target before a race (n harmless GETs
// of path, themselves released together so that each needs a connection of
// its own) and leaves them idle in the client's pool. Without it every
// racing request first dials, and the dials, not the requests, decide the
// order in which they reach the server: on a loaded machine they arrive
// one by one and a check-then-act window of a few milliseconds is missed.
func warm(ctx context.Context, cl *framework.Client, path string, n int) {
	reqs := make([]framework.Req, n)
	for i := range reqs {
		reqs[i] = framework.Req{Method: http.MethodGet, Path: path}
	}
	_, _ = release(ctx, cl, reqs)
}
