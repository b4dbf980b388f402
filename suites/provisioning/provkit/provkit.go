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
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// Paths of seed 003, relative to the profile base path.
const (
	KeysPath   = "/provision/keys"  // POST, admin JWT -> {key, expiresAt}
	RedeemPath = "/provision/agent" // POST {key, agentName} -> {apiKey, agentUuid, mqttPassword}
)

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
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "deploying a fresh %s instance", c.Name())
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

// secretFields are the response fields of seed 003 that carry a secret
// the suite did not know before the request.
var secretFields = []string{"key", "apiKey", "mqttPassword", "accessToken", "refreshToken", "access_token", "token"}

// remember adds every secret a response revealed to the client's masked
// secrets and re-masks the exchange with them.
func remember(cl *framework.Client, r *framework.Resp) {
	m := r.JSONMap()
	for _, f := range secretFields {
		if s, ok := m[f].(string); ok && len(s) >= 8 {
			cl.AddSecret(s)
		}
	}
	r.Exchange = maskJWTs(spec.Mask(r.Exchange, cl.Secrets))
}

// jwtLike matches a compact JWS or any long leading part of one.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{10,}(\.[A-Za-z0-9_-]*){0,2}`)

// maskJWTs masks every JWT-looking string, also the ones the transcript
// cut short: framework transcripts shorten a long body before masking, so
// the cut-off head of a refresh token no longer equals the secret and
// would slip through spec.Mask.
func maskJWTs(s string) string {
	return jwtLike.ReplaceAllStringFunc(s, func(t string) string { return t[:6] + "…(masked)" })
}

// Do is framework.Client.Do, except that secrets revealed by the response
// itself (a new provisioning key, device key, MQTT password or token) are
// masked in the recorded exchange too: framework.Client.Do records the
// exchange before the caller can learn them.
func (in *Instance) Do(r framework.Req) *framework.Resp {
	resp, err := in.Cl.Try(context.Background(), r)
	if err != nil {
		Fail(err.Error(), 1)
	}
	remember(in.Cl, resp)
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

// Login logs p in through the profile's login endpoint and returns the
// Bearer header of the access token. It is framework.Ctx.Login with the
// issued tokens masked in the recorded exchange as well.
func (in *Instance) Login(p spec.Principal) http.Header {
	GinkgoHelper()
	l := in.C.Profile.Login
	Expect(l).NotTo(BeNil(), "profile %s has no login", in.C.Name())
	r := in.Post(l.Path, nil, map[string]string{"email": p.Email, "password": p.Password})
	Expect(r).To(framework.HaveStatus(http.StatusOK), "login as %s", p.Email)
	tok := framework.ParseTokens(l, r)
	Expect(tok.Access).NotTo(BeEmpty(), "login response has no %q\n%s", l.AccessField, r.Exchange)
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
	Key       string
	ExpiresAt time.Time
	Resp      *framework.Resp
}

// CreateKeyResp sends POST /provision/keys with headers h and body (nil:
// an empty JSON object) and returns the response unchecked.
func (in *Instance) CreateKeyResp(h http.Header, body map[string]any) *framework.Resp {
	if body == nil {
		body = map[string]any{}
	}
	return in.Post(KeysPath, h, body)
}

// CreateKey creates a provisioning key with admin headers h and fails the
// spec unless the answer is 201 with a "prov_" key and an RFC 3339
// expiresAt.
func (in *Instance) CreateKey(h http.Header, body map[string]any) ProvKey {
	GinkgoHelper()
	r := in.CreateKeyResp(h, body)
	Expect(r).To(framework.HaveStatus(http.StatusCreated), "POST %s with an admin JWT must create a provisioning key", KeysPath)
	return ParseKey(in.C.Profile, r)
}

// ParseKey checks and reads a 201 answer of POST /provision/keys.
func ParseKey(p *spec.Profile, r *framework.Resp) ProvKey {
	GinkgoHelper()
	k := ProvKey{Key: r.String("key"), Resp: r}
	Expect(k.Key).To(HavePrefix(p.ProvisioningKeyPrefix), "the provisioning key must carry the %q prefix (seed 003)\n%s", p.ProvisioningKeyPrefix, r.Exchange)
	Expect(len(k.Key)).To(BeNumerically(">", len(p.ProvisioningKeyPrefix)), "the provisioning key must have a secret part after the prefix\n%s", r.Exchange)
	exp := r.String("expiresAt")
	t, err := time.Parse(time.RFC3339, exp)
	Expect(err).NotTo(HaveOccurred(), "expiresAt %q must be an RFC 3339 timestamp\n%s", exp, r.Exchange)
	k.ExpiresAt = t
	return k
}

// Redeemed is what POST /provision/agent returned.
type Redeemed struct {
	APIKey       string
	AgentUUID    string
	MQTTPassword string
	Resp         *framework.Resp
}

// RedeemReq is the self-registration request of seed 003 (no credential
// but the provisioning key in the body).
func RedeemReq(key, agentName string) framework.Req {
	return framework.Req{Method: http.MethodPost, Path: RedeemPath, JSON: map[string]string{"key": key, "agentName": agentName}}
}

// RedeemResp redeems key and returns the response unchecked; secrets in a
// successful answer are added to the client's masked secrets.
func (in *Instance) RedeemResp(key, agentName string) *framework.Resp {
	return in.Do(RedeemReq(key, agentName))
}

// Redeem redeems key and fails the spec unless it gets a 2xx with an
// iotsk_live_ API key and an agent UUID.
func (in *Instance) Redeem(key, agentName string) Redeemed {
	GinkgoHelper()
	r := in.RedeemResp(key, agentName)
	Expect(r).To(framework.HaveStatus(http.StatusOK, http.StatusCreated), "redeeming a fresh provisioning key must register the agent")
	out := Redeemed{APIKey: r.String("apiKey"), AgentUUID: r.String("agentUuid"), MQTTPassword: r.String("mqttPassword"), Resp: r}
	Expect(out.APIKey).To(HavePrefix(in.C.Profile.DeviceKeyPrefix), "apiKey must be a device key with the %q prefix (seed 003)\n%s", in.C.Profile.DeviceKeyPrefix, r.Exchange)
	Expect(out.AgentUUID).NotTo(BeEmpty(), "agentUuid must name the new agent (seed 003)\n%s", r.Exchange)
	return out
}

// DeviceState sends GET /device/{uuid}/state with the device key.
func (in *Instance) DeviceState(uuid, deviceKey string) *framework.Resp {
	return in.Get(framework.DeviceStatePath(uuid), framework.Cred(spec.TransportDeviceKey, deviceKey))
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
	for _, r := range resps {
		if r != nil {
			remember(cl, r) // first learn every revealed secret ...
		}
	}
	for i := range reqs {
		if errs[i] != nil {
			t.Errors = append(t.Errors, spec.Mask(errs[i].Error(), cl.Secrets))
			continue
		}
		r := resps[i]
		r.Exchange = maskJWTs(spec.Mask(r.Exchange, cl.Secrets)) // ... then mask them everywhere
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
