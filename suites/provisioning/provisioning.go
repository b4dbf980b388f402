// Package provisioning holds the specs of the provisioning checks
// (PROV-001..006, iotistica): single-use, expiring provisioning keys that
// an operator creates and an agent redeems for its device key (seed 003).
package provisioning

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/fixtures"
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

// deployedMaxDevices is the device limit of the license the area's own
// deployment runs with: far above what the specs register (PROV-004 under
// a racy mutant may add RaceSize agents at once).
const deployedMaxDevices = 1000

var _ = framework.Area("provisioning", func(c *framework.Ctx) {
	if c.Name() != spec.Iotistica {
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
			Expect(err).NotTo(HaveOccurred())
			tok, err := lk.Mint(provkit.License(deployedMaxDevices, fixtures.AllFeatures))
			Expect(err).NotTo(HaveOccurred())
			in = provkit.Deploy(ctx, c, lk.Vars(tok))
		})

		c.It("PROV-001", "lets an admin create a provisioning key: 201 with a prov_ key and an RFC 3339 expiresAt in the future, because seed 003 documents exactly that answer and a key that is born expired cannot provision anything", func() {
			k := in.CreateKey(in.AdminAuth(), nil)
			Expect(k.ExpiresAt).To(BeTemporally(">", time.Now()), "expiresAt must lie in the future\n%s", k.Resp.Exchange)
		})

		c.It("PROV-001", "refuses to let a member (not an admin) create a provisioning key, with 403 and the profile's body, because seed 003 makes provisioning an operator action and every key admits a new device", func() {
			Expect(in.CreateKeyResp(in.MemberAuth(), nil)).To(c.Be403())
		})

		c.It("PROV-001", "refuses to create a provisioning key without any credential, with 401 and the profile's body, because key creation is an authenticated operator action", func() {
			Expect(in.CreateKeyResp(nil, nil)).To(c.Be401Missing())
		})

		c.It("PROV-002", "redeems a fresh provisioning key for an iotsk_live_ device key and the new agent's UUID, and that key MUST then read the agent's own state (200), because seed 003 says the agent uses it for all future requests", func() {
			k := in.CreateKey(in.AdminAuth(), nil)
			got := in.Redeem(k.Key, provkit.AgentName("prov"))
			// mqttPassword is ref-defined (the seed's example omits it):
			// it is not checked here.
			Expect(in.DeviceState(got.AgentUUID, got.APIKey)).To(framework.HaveStatus(http.StatusOK),
				"the device key returned by %s must work on %s with %s", provkit.RedeemPath, framework.DeviceStatePath("{agentUuid}"), c.Profile.DeviceKeyHeader)
		})

		c.It("PROV-003", "rejects a second redemption of an already redeemed provisioning key with 401, because seed 003 makes the key single-use and deleted after registration", func() {
			k := in.CreateKey(in.AdminAuth(), nil)
			in.Redeem(k.Key, provkit.AgentName("prov"))
			Expect(in.RedeemResp(k.Key, provkit.AgentName("prov"))).To(c.Be401())
		})

		c.It("PROV-004", "admits exactly one of 50 redemptions of one fresh provisioning key released at the same instant (one 2xx, 49 × 401), because a single-use key MUST admit one device even when agents race for it", func(ctx SpecContext) {
			k := in.CreateKey(in.AdminAuth(), nil)
			reqs := make([]framework.Req, RaceSize)
			for i := range reqs {
				reqs[i] = provkit.RedeemReq(k.Key, provkit.AgentName("prov-race"))
			}
			t := provkit.Race(ctx, in.Cl, reqs)
			Expect(t.Errors).To(BeEmpty(), "every redemption must get an HTTP answer\n%s", t)
			Expect(t.Success()).To(Equal(1), "exactly one redemption must succeed\n%s", t)
			Expect(t.Counts[http.StatusUnauthorized]).To(Equal(RaceSize-1), "every other redemption must get 401\n%s", t)
		}, SpecTimeout(30*time.Second))

		c.It("PROV-005", "rejects an expired provisioning key with 401, because seed 003 says provisioning keys expire: a key leaked after its expiresAt must not admit a device", func(ctx SpecContext) {
			// ttlSeconds is ref-defined: it lets the suite mint a key that
			// expires within the run instead of after the default lifetime.
			k := in.CreateKey(in.AdminAuth(), map[string]any{provkit.TTLField: 1})
			if time.Until(k.ExpiresAt) > maxExpiryWait {
				Skip("the implementation ignores the ref-defined " + provkit.TTLField + " field of POST " + provkit.KeysPath + " (expiresAt is " + k.ExpiresAt.Format(time.RFC3339) + "): cannot make a key expire within the run")
			}
			// Wait for the clock, not the server: past expiresAt plus one
			// second of slack for a truncated timestamp or a skewed clock.
			after := k.ExpiresAt.Add(time.Second)
			Eventually(ctx, time.Now).
				WithTimeout(time.Until(after) + 2*time.Second).
				WithPolling(50 * time.Millisecond).
				Should(BeTemporally(">", after))
			Expect(in.RedeemResp(k.Key, provkit.AgentName("prov"))).To(c.Be401())
		}, SpecTimeout(maxExpiryWait+10*time.Second))

		c.It("PROV-005", "rejects a provisioning key used as a device or user credential (X-Device-API-Key and Authorization: Bearer) with 401, because it only entitles its holder to register once and is no API key", func() {
			k := in.CreateKey(in.AdminAuth(), nil)
			uuid := "00000000-0000-4000-8000-000000000000"
			if len(in.T.Devices) > 0 {
				uuid = in.T.Devices[0].UUID
			}
			Expect(in.Get(framework.DeviceStatePath(uuid), framework.Cred(spec.TransportDeviceKey, k.Key))).To(c.Be401())
			Expect(in.Get(framework.DeviceStatePath(uuid), framework.Cred(spec.TransportBearer, k.Key))).To(c.Be401())
			Expect(in.Get("/agents", framework.Cred(spec.TransportBearer, k.Key))).To(c.Be401())
		})

		c.It("PROV-006", "lets an admin create a device key for an agent with POST /auth/api-keys {name, agentUuid}, and that key MUST read the agent's state (200), because seed 003 documents manual key generation with an admin JWT", func() {
			admin := in.AdminAuth()
			agent := in.Redeem(in.CreateKey(admin, nil).Key, provkit.AgentName("prov-keys"))
			r := in.Post(c.Profile.Keys.Create, admin, map[string]string{"name": provkit.AgentName("key"), "agentUuid": agent.AgentUUID})
			Expect(r).To(framework.HaveStatus(http.StatusCreated, http.StatusOK), "POST %s with an admin JWT must create a device key", c.Profile.Keys.Create)
			key := r.String(c.Profile.Keys.SecretJSON)
			Expect(key).To(HavePrefix(c.Profile.DeviceKeyPrefix), "%q must be a device key with the %q prefix\n%s", c.Profile.Keys.SecretJSON, c.Profile.DeviceKeyPrefix, r.Exchange)
			Expect(in.DeviceState(agent.AgentUUID, key)).To(framework.HaveStatus(http.StatusOK), "the new key must work on its agent's state")
		})

		c.It("PROV-006", "refuses a member (not an admin) who asks POST /auth/api-keys for a device key, with 403 and the profile's body, because seed 003 reserves key generation to admins and a device key is a device's identity", func() {
			uuid := "00000000-0000-4000-8000-000000000000"
			if len(in.T.Devices) > 0 {
				uuid = in.T.Devices[0].UUID
			}
			Expect(in.Post(c.Profile.Keys.Create, in.MemberAuth(), map[string]string{"name": provkit.AgentName("key"), "agentUuid": uuid})).To(c.Be403())
		})
	})
})
