// Package license holds the specs of the license checks (LIC-001..004,
// iotistica): a signed license JWT, checked with LICENSE_PUBLIC_KEY at
// start, limits the number of devices and unlocks premium features; a
// missing or bad license means restricted mode (seed 003).
//
// Every spec deploys its own instance with a license minted for it, signed
// by a key pair generated for the run (so the deployment must really verify
// against the LICENSE_PUBLIC_KEY it is given). The framework skips these
// checks with a reason where the environment cannot deploy.
package license

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

// RaceSize is how many registrations LIC-002 releases together at
// maxDevices - 1 (the catalogue asks for 20; issue 3 asks every
// concurrency check for at least 50 goroutines, which is stricter).
const RaceSize = 50

// Premium endpoints, one per license feature (ref-defined paths; the seed
// names the features only).
type premium struct {
	feature string // claim name in the license's features
	path    string // GET, relative to the base path
	without func(f *fixtures.Features)
}

// licensePath is the ref-defined license status endpoint (GET, user JWT):
// {"mode", "maxDevices", "devices", "features"}.
const licensePath = "/license"

// generous is a device limit no spec comes near.
const generous = 1000

var premiums = []premium{
	{"dataExport", "/export/csv", func(f *fixtures.Features) { f.DataExport = false }},
	{"advancedAnomaly", "/anomaly/rules", func(f *fixtures.Features) { f.AdvancedAnomaly = false }},
	{"ai", "/ai/suggestions", func(f *fixtures.Features) { f.AI = false }},
}

var _ = framework.Area("license", func(c *framework.Ctx) {
	if c.Name() != spec.Iotistica {
		return
	}

	var lk *provkit.Licensor
	BeforeEach(func() {
		var err error
		lk, err = provkit.NewLicensor()
		Expect(err).NotTo(HaveOccurred())
	})

	// seats is how many devices of the admin's organisation a fresh
	// deployment already counts against maxDevices (-1: not asked yet).
	// The seed does not say how to learn it, so it is read once from the
	// ref-defined GET /license {"devices": n} of a probe deployment with a
	// generous license; the reference counts the organisation's agents
	// that hold a non-revoked device key.
	seats := -1
	existingDevices := func(ctx SpecContext) int {
		GinkgoHelper()
		if seats >= 0 {
			return seats
		}
		tok, err := lk.Mint(provkit.License(generous, fixtures.AllFeatures))
		Expect(err).NotTo(HaveOccurred())
		probe := provkit.Deploy(ctx, c, lk.Vars(tok))
		r := probe.Get(licensePath, probe.AdminAuth())
		n, err := spec.Int(r.Body, "devices")
		if r.Status != http.StatusOK || err != nil || n < 0 {
			Skip("cannot learn how many devices a fresh deployment counts against maxDevices: the ref-defined GET " + licensePath + " gave no integer \"devices\"")
		}
		seats = int(n)
		return seats
	}

	// deploy starts an instance whose license leaves room for exactly
	// room more devices, with the given features.
	deploy := func(ctx SpecContext, room int, f fixtures.Features) *provkit.Instance {
		GinkgoHelper()
		tok, err := lk.Mint(provkit.License(existingDevices(ctx)+room, f))
		Expect(err).NotTo(HaveOccurred())
		return provkit.Deploy(ctx, c, lk.Vars(tok))
	}

	c.It("LIC-001", "admits registrations up to the license's maxDevices and refuses the next one with 403 and the profile's body, because seed 003 says the license sets the maximum number of registered agents", timed(c, func(ctx SpecContext) {
		in := deploy(ctx, 2, fixtures.AllFeatures)
		admin := in.AdminAuth()
		// All keys are minted before the limit is reached, so only the
		// registration itself can be refused.
		keys := []provkit.ProvKey{in.CreateKey(admin, nil), in.CreateKey(admin, nil), in.CreateKey(admin, nil)}
		in.Redeem(keys[0].Key, provkit.AgentName("lic"))
		in.Redeem(keys[1].Key, provkit.AgentName("lic"))
		Expect(in.RedeemResp(keys[2].Key, provkit.AgentName("lic"))).To(c.Be403(), "the registration beyond maxDevices must be refused")
	})...)

	c.It("LIC-002", "admits exactly one of 50 registrations released at the same instant when one device slot is left (one 2xx, 49 × 403), because the device limit MUST hold under concurrent registrations", timed(c, func(ctx SpecContext) {
		in := deploy(ctx, 1, fixtures.AllFeatures)
		admin := in.AdminAuth()
		reqs := make([]framework.Req, RaceSize)
		for i := range reqs {
			reqs[i] = provkit.RedeemReq(in.CreateKey(admin, nil).Key, provkit.AgentName("lic-race"))
		}
		t := provkit.Race(ctx, in.Cl, reqs)
		Expect(t.Errors).To(BeEmpty(), "every registration must get an HTTP answer\n%s", t)
		Expect(t.Success()).To(Equal(1), "exactly one registration must fit under maxDevices\n%s", t)
		Expect(t.Counts[http.StatusForbidden]).To(Equal(RaceSize-1), "every other registration must get 403\n%s", t)
	})...)

	// LIC-003: four ways to have no valid license. MQTT ("existing devices
	// keep reporting") is not exercised here: the mqtt area owns the broker.
	type badLicense struct {
		name  string
		why   string
		token func() (string, error)
	}
	valid := func() fixtures.License { return provkit.License(generous, fixtures.AllFeatures) }
	bad := []badLicense{
		{"missing", "LICENSE_KEY is empty", func() (string, error) { return "", nil }},
		{"expired", "its exp lies an hour in the past", func() (string, error) {
			l := valid()
			l.IssuedAt, l.ExpiresAt = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
			return lk.Mint(l)
		}},
		{"badly signed", "it is signed by a key other than LICENSE_PUBLIC_KEY's", func() (string, error) {
			return provkit.ForeignSigned(valid())
		}},
		{"alg none", "it is unsigned (alg none)", func() (string, error) {
			return provkit.AlgNone(valid()), nil
		}},
	}
	for _, b := range bad {
		b := b
		c.It("LIC-003", "runs in restricted mode when the license is "+b.name+" ("+b.why+"): existing device keys keep working (200) while new registrations and premium features get 403, because seed 003 says so of a missing, expired or invalid license", timed(c, func(ctx SpecContext) {
			tok, err := b.token()
			Expect(err).NotTo(HaveOccurred())
			in := provkit.Deploy(ctx, c, lk.Vars(tok))
			Expect(in.T.Devices).NotTo(BeEmpty(), "the deployment's target lists no device")
			d := in.T.Devices[0]
			Expect(in.DeviceState(d.UUID, d.APIKey)).To(framework.HaveStatus(http.StatusOK), "an existing device must keep working in restricted mode")

			admin := in.AdminAuth()
			// A registration may be refused when the provisioning key is
			// asked for or when it is redeemed; either blocks it.
			r := in.CreateKeyResp(admin, nil)
			if r.Status == http.StatusCreated {
				k := provkit.ParseKey(c.Profile, r)
				Expect(in.RedeemResp(k.Key, provkit.AgentName("lic"))).To(c.Be403(), "a new registration must be refused in restricted mode")
			} else {
				Expect(r).To(c.Be403(), "a new registration must be refused in restricted mode")
			}
			for _, p := range premiums {
				Expect(in.Get(p.path, admin)).To(c.Be403(), "premium feature %s (GET %s) must be refused in restricted mode", p.feature, p.path)
			}
		})...)
	}

	for _, p := range premiums {
		p := p
		c.It("LIC-004", "refuses premium feature "+p.feature+" (GET "+p.path+") with 403 under a valid license that lacks it, while the license's other premium features answer 200, because seed 003 says the license controls each feature", timed(c, func(ctx SpecContext) {
			f := fixtures.AllFeatures
			p.without(&f)
			tok, err := lk.Mint(provkit.License(generous, f))
			Expect(err).NotTo(HaveOccurred())
			in := provkit.Deploy(ctx, c, lk.Vars(tok))
			admin := in.AdminAuth()
			Expect(in.Get(p.path, admin)).To(c.Be403(), "%s is not in the license", p.feature)
			for _, o := range premiums {
				if o.feature != p.feature {
					Expect(in.Get(o.path, admin)).To(framework.HaveStatus(http.StatusOK), "%s is in the license", o.feature)
				}
			}
		})...)
	}
})

// specTimeout bounds each license spec (deploy, login, registrations).
const specTimeout = 30 * time.Second

// timed returns the body with SpecTimeout(specTimeout). Where the
// environment cannot deploy, the framework swaps the body for a plain
// func() that skips, and Ginkgo refuses a SpecTimeout on a body without a
// context: the decorator is left out there (see the report: the framework
// guard should keep the body's signature).
func timed(c *framework.Ctx, body func(SpecContext)) []any {
	if !c.Env.CanDeploy() {
		return []any{body}
	}
	return []any{body, SpecTimeout(specTimeout)}
}
