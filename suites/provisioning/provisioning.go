// Package provisioning holds the specs of the provisioning checks
// (PROV-001..006, iotistica): single-use, expiring provisioning keys that
// an operator creates and an agent redeems for its device key (seed 003).
package provisioning

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/provisioning/provkit"
)

// RaceSize is how many redemptions of one key PROV-004 releases together.
const RaceSize = 50

// maxExpiryWait is the longest PROV-005 waits for a short-lived key to
// expire; a key that lives longer means the implementation ignored the
// requested ttlSeconds, and the spec is skipped with that reason.
const maxExpiryWait = 15 * time.Second

// shortTTL is the lifetime PROV-005 asks for with the ref-defined
// ttlSeconds: long enough to redeem a sibling key at once, short enough to
// wait for.
const shortTTL = 3

// clockSkew is how far the target's clock may lag the suite's before a
// fresh key's expiresAt counts as "not in the future".
const clockSkew = 30 * time.Second

// deployedMaxDevices is the device limit of the license the area's own
// deployment runs with: far above what the specs register (PROV-004 under
// a racy mutant may add RaceSize agents at once).
const deployedMaxDevices = 1000

var _ = framework.Area("provisioning", func(c *framework.Ctx) {
	if !c.Profile.Can(spec.CapProvisioning) {
		return
	}

	// Every redemption registers a new device, and the license counts
	// devices (maxDevices). Where the environment can deploy, the
	// provisioning specs therefore run against a fresh instance of their
	// own with a generous license, so the agents they register never eat
	// into the device budget that other areas (and the license checks)
	// count on. Where it cannot (an external target), they run against the
	// target itself, which keeps the agents they register (named
	// "authconform-prov-…"); give such a target a license with room for
	// about 60 more devices.
	//
	// Ordered only so that the instance is started once for the area;
	// ContinueOnFailure keeps every check independent of the others.
	Describe("against one instance shared by the provisioning checks", Ordered, ContinueOnFailure, func() {
		var in *provkit.Instance
		BeforeAll(func(ctx SpecContext) {
			if !c.Env.CanDeploy() {
				in = provkit.Target(c)
				return
			}
			lk, err := provkit.NewLicensor()
			framework.ControlOK(err == nil, "license key pair: %v", err)
			tok, err := lk.Mint(provkit.NewLicense(deployedMaxDevices, provkit.AllFeatures))
			framework.ControlOK(err == nil, "minting the deployment's license: %v", err)
			in = provkit.Deploy(ctx, c, lk.Vars(tok))
		})

		c.It("PROV-001", "lets an admin create a provisioning key: a 2xx with a prov_ key and an expiresAt in the future, because seed 003 documents exactly that answer and a key that is born expired cannot provision anything", func() {
			r := in.CreateKeyResp(in.AdminAuth(), nil)
			provkit.Judgeable(r, "POST "+provkit.KeysPath(c)+" with an admin JWT")
			Expect(r).To(framework.HaveStatus(provkit.Created...), "POST %s with an admin JWT must create a provisioning key", provkit.KeysPath(c))
			k, err := provkit.ParseKey(c.Profile, r)
			Expect(err).NotTo(HaveOccurred(), "%s", r.Exchange)
			noteKeyShape(c, k)
			if k.ExpiresAt.IsZero() {
				framework.ShouldNote("expiresAt %v is not a timestamp the suite can read (RFC 3339 is the reference's format), so it could not check that it lies in the future\n%s", k.ExpiresRaw, r.Exchange)
				return
			}
			Expect(k.ExpiresAt).To(BeTemporally(">", time.Now().Add(-clockSkew)), "expiresAt must lie in the future (allowing %s of clock skew)\n%s", clockSkew, r.Exchange)
		})

		c.It("PROV-001", "refuses to let a member (not an admin) create a provisioning key, with 403, while the admin gets a key from the same endpoint and the member's JWT reads the agents, because seed 003 makes provisioning an operator action and every key admits a new device", func() {
			in.CreateKey(in.AdminAuth(), nil) // control: the endpoint creates keys for the admin
			member := in.MemberAuth()
			framework.Control(in.Get("/agents", member), "the member's JWT on GET /agents (seed 003)", http.StatusOK)
			Expect(in.CreateKeyResp(member, nil)).To(c.Be403(), "POST %s with a member's JWT", provkit.KeysPath(c))
		})

		c.It("PROV-001", "refuses to create a provisioning key without any credential, with 401, while the admin gets a key from the same endpoint, because key creation is an authenticated operator action", func() {
			in.CreateKey(in.AdminAuth(), nil) // control
			Expect(in.CreateKeyResp(nil, nil)).To(c.Be401Missing(), "POST %s without a credential", provkit.KeysPath(c))
		})

		c.It("PROV-002", "redeems a fresh provisioning key for an iotsk_live_ device key and the new agent's UUID, and that key MUST then read the agent's own state (200), because seed 003 says the agent uses it for all future requests", func() {
			// Control: the state endpoint answers an existing device's own key.
			if len(in.T.Devices) > 0 {
				d := in.T.Devices[0]
				framework.Control(in.DeviceState(d.UUID, d.APIKey), "an existing device's key on its own state", http.StatusOK)
			}
			k := in.CreateKey(in.AdminAuth(), nil)
			r := in.RedeemResp(k.Key, provkit.AgentName("prov"))
			provkit.Judgeable(r, "POST "+provkit.RedeemPath(c)+" with a fresh provisioning key")
			Expect(r).To(framework.HaveStatus(provkit.Created...), "redeeming a fresh provisioning key must register the agent")
			got, err := provkit.ParseRedeemed(c.Profile, r)
			Expect(err).NotTo(HaveOccurred(), "%s", r.Exchange)
			if got.MQTTPassword == "" {
				framework.ShouldNote("the answer of POST %s has no mqttPassword (ref-defined: the reference returns the device's MQTT password there; seed 003 says the password comes \"from provisioning\")\n%s", provkit.RedeemPath(c), r.Exchange)
			}
			st := in.DeviceState(got.AgentUUID, got.APIKey)
			provkit.Judgeable(st, "the new device key on its own state")
			Expect(st).To(framework.HaveStatus(http.StatusOK),
				"the device key returned by %s must work on %s with %s", provkit.RedeemPath(c), c.DeviceStatePath("{agentUuid}"), c.Profile.DeviceKeyHeader)
		})

		c.It("PROV-003", "rejects a second redemption of an already redeemed provisioning key with 401, after the first redemption of that very key succeeded, because seed 003 makes the key single-use and deleted after registration", func() {
			k := in.CreateKey(in.AdminAuth(), nil)
			in.Redeem(k.Key, provkit.AgentName("prov")) // control: the key was good
			r := in.RedeemResp(k.Key, provkit.AgentName("prov"))
			provkit.Judgeable(r, "the second redemption")
			Expect(r).To(c.Be401(), "redeeming the same provisioning key a second time")
		})

		c.It("PROV-004", "admits exactly one of 50 redemptions of one fresh provisioning key released at the same instant, and the winner's device key works, because a single-use key MUST admit one device even when agents race for it", func(ctx SpecContext) {
			k := in.CreateKey(in.AdminAuth(), nil)
			reqs := make([]framework.Req, RaceSize)
			for i := range reqs {
				reqs[i] = provkit.RedeemReq(c, k.Key, provkit.AgentName("prov-race"))
			}
			t := provkit.Race(ctx, in.Cl, reqs)
			// Over-admission is proven whatever else happened.
			Expect(t.Success()).To(BeNumerically("<=", 1), "at most one redemption of a single-use key may succeed\n%s", t)
			if t.Success() == 0 {
				if len(t.Errors) > 0 || t.Counts[http.StatusTooManyRequests] > 0 || t.ServerErrors() > 0 {
					framework.Inconclusive("no redemption succeeded, and some got no answer, a 429 or a 5xx: the race cannot be judged\n%s", t)
				}
				Fail("no redemption of a fresh provisioning key succeeded: exactly one must\n" + t.String())
			}
			// Control: the winner really registered a device (PROV-002
			// checks that its key works).
			for _, r := range t.Resps {
				if r != nil && r.Status >= 200 && r.Status < 300 {
					_, err := provkit.ParseRedeemed(c.Profile, r)
					framework.ControlOK(err == nil, "the successful redemption: %v\n%s", err, r.Exchange)
				}
			}
			if n := t.Counts[http.StatusUnauthorized]; n != RaceSize-1 {
				framework.ShouldNote("the %d losing redemptions should get 401 as a reused key does (PROV-003); %d did\n%s", RaceSize-1, n, t)
			}
		}, SpecTimeout(45*time.Second))

		c.It("PROV-005", "rejects an expired provisioning key, while a sibling key minted the same way works before it expires, because seed 003 says provisioning keys expire: a key leaked after its expiresAt must not admit a device", func(ctx SpecContext) {
			admin := in.AdminAuth()
			// ttlSeconds is ref-defined: it lets the suite mint a key that
			// expires within the run instead of after the default lifetime.
			body := map[string]any{provkit.TTLField: shortTTL}
			r := in.CreateKeyResp(admin, body)
			if r.Status == http.StatusBadRequest || r.Status == http.StatusUnprocessableEntity {
				// Not-run, not not-applicable: keys do expire (seed 003's
				// expiresAt); only the suite's ref-defined way to make one
				// expire soon is missing, so the MUST stays unverified.
				framework.SkipNotRun("POST %s refuses the ref-defined %q field (%d): the suite cannot make a key expire within the run, so expiry is not verified", provkit.KeysPath(c), provkit.TTLField, r.Status)
			}
			framework.Control(r, "POST "+provkit.KeysPath(c)+" with an admin JWT and {\""+provkit.TTLField+"\": 3}", provkit.Created...)
			sibling, err := provkit.ParseKey(c.Profile, r)
			framework.ControlOK(err == nil, "%v\n%s", err, r.Exchange)
			k := in.CreateKey(admin, body)
			if k.ExpiresAt.IsZero() || time.Until(k.ExpiresAt) > maxExpiryWait {
				framework.SkipNotRun("the implementation ignores the ref-defined %s field of POST %s (expiresAt is %v): the suite cannot make a key expire within the run, so expiry is not verified", provkit.TTLField, provkit.KeysPath(c), k.ExpiresRaw)
			}
			// Control: a key minted the same way works before it expires.
			in.Redeem(sibling.Key, provkit.AgentName("prov"))
			// Wait for the clock, not the server: past expiresAt plus one
			// second of slack for a truncated timestamp.
			after := k.ExpiresAt.Add(time.Second)
			Eventually(ctx, time.Now).
				WithTimeout(time.Until(after) + 2*time.Second).
				WithPolling(50 * time.Millisecond).
				Should(BeTemporally(">", after))
			got := in.RedeemResp(k.Key, provkit.AgentName("prov"))
			provkit.Judgeable(got, "redeeming the expired key")
			Expect(got.Status).To(And(BeNumerically(">=", 400), BeNumerically("<", 500)), "an expired provisioning key must be rejected (4xx)\n%s", got.Exchange)
			noteBe401(c, got, "an expired provisioning key")
		}, SpecTimeout(maxExpiryWait+20*time.Second))

		c.It("PROV-005", "rejects a provisioning key used as a device credential (X-Device-API-Key) or user credential (Authorization: Bearer) with 401, while the device's own key and the admin's JWT work on the same resources, because it only entitles its holder to register once and is no API key", func() {
			admin := in.AdminAuth()
			// The device of the target file (or, without one, an agent the
			// check registers) and its own key.
			var uuid, own string
			if len(in.T.Devices) > 0 {
				uuid, own = in.T.Devices[0].UUID, in.T.Devices[0].APIKey
			} else {
				a := in.NewAgent(admin, "prov")
				uuid, own = a.AgentUUID, a.APIKey
			}
			k := in.CreateKey(admin, nil) // a live, unredeemed key
			state := c.DeviceStatePath(uuid)
			framework.Control(in.DeviceState(uuid, own), "the device's own key on its state", http.StatusOK)
			Expect(in.Get(state, framework.Cred(spec.TransportDeviceKey, k.Key))).To(c.Be401(), "a provisioning key as X-Device-API-Key")
			framework.Control(in.Get("/agents", admin), "the admin's JWT on GET /agents", http.StatusOK)
			Expect(in.Get("/agents", framework.Cred(spec.TransportBearer, k.Key))).To(c.Be401(), "a provisioning key as Authorization: Bearer")
		})

		c.It("PROV-006", "lets an admin create a device key for an agent with POST /auth/api-keys {name, agentUuid}, and that key MUST read the agent's state (200), because seed 003 documents manual key generation with an admin JWT", func() {
			admin := in.AdminAuth()
			agent := in.NewAgent(admin, "prov-keys")
			r := in.CreateDeviceKeyResp(admin, agent.AgentUUID)
			provkit.Judgeable(r, "POST "+c.Profile.Keys.Create+" with an admin JWT")
			Expect(r).To(framework.HaveStatus(provkit.Created...), "POST %s with an admin JWT must create a device key", c.Profile.Keys.Create)
			key, err := in.DeviceKeyFrom(r)
			Expect(err).NotTo(HaveOccurred(), "%s", r.Exchange)
			if key.Field != c.Profile.Keys.SecretJSON {
				framework.ShouldNote("the new device key is in %q, the reference's field is %q (ref-defined)\n%s", key.Field, c.Profile.Keys.SecretJSON, r.Exchange)
			}
			st := in.DeviceState(agent.AgentUUID, key.APIKey)
			provkit.Judgeable(st, "the new key on its agent's state")
			Expect(st).To(framework.HaveStatus(http.StatusOK), "the new key must work on its agent's state")
		})

		c.It("PROV-006", "refuses a member (not an admin) who asks POST /auth/api-keys for a device key, with 403, while the admin gets one for the very same agent, because seed 003 reserves key generation to admins and a device key is a device's identity", func() {
			admin := in.AdminAuth()
			agent := in.NewAgent(admin, "prov-keys")
			ctl := in.CreateDeviceKeyResp(admin, agent.AgentUUID)
			framework.Control(ctl, "the admin's POST "+c.Profile.Keys.Create+" for the same agent", provkit.Created...)
			_, _ = in.DeviceKeyFrom(ctl)
			member := in.MemberAuth()
			framework.Control(in.Get("/agents", member), "the member's JWT on GET /agents", http.StatusOK)
			Expect(in.CreateDeviceKeyResp(member, agent.AgentUUID)).To(c.Be403(), "POST %s with a member's JWT", c.Profile.Keys.Create)
		})
	})
})

// noteKeyShape records the SHOULD parts of a provisioning key answer the
// reference chose: 201 Created and an RFC 3339 expiresAt.
func noteKeyShape(c *framework.Ctx, k provkit.ProvKey) {
	if k.Resp.Status != http.StatusCreated {
		framework.ShouldNote("POST %s answered %d; a created key should be 201 Created (RFC 9110 §15.3.2; the reference's status)\n%s", provkit.KeysPath(c), k.Resp.Status, k.Resp.Exchange)
	}
	if !k.ExpiresRFC3339 {
		framework.ShouldNote("expiresAt %v should be an RFC 3339 timestamp (the reference's format; seed 003 shows \"...\")", k.ExpiresRaw)
	}
}

// noteBe401 records, as SHOULD, whether a rejected redemption is the 401
// the reference gives (the seed says only that the key is refused).
func noteBe401(c *framework.Ctx, r *framework.Resp, what string) {
	if ok, err := c.Be401().Match(r); err != nil || !ok {
		framework.ShouldNote("%s should get 401 with the profile's body, as the reference answers: %s", what, c.Be401().FailureMessage(r))
	}
}
