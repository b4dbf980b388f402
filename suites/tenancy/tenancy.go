// Package tenancy holds the conformance specs of the tenancy area (TEN-001,
// TEN-002): no principal reaches another organisation's resources (OWASP
// API1, broken object-level authorisation), and no device reaches another
// device's state.
package tenancy

import (
	"bytes"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// resourceWord names the profile's tenant-scoped resource in spec texts.
func resourceWord(p spec.ProfileName) string {
	switch p {
	case spec.Roboticks:
		return "devices"
	case spec.Rigbox:
		return "workspace"
	case spec.RequestRocket:
		return "client"
	default:
		return "agent"
	}
}

var _ = framework.Area("tenancy", func(c *framework.Ctx) {
	var cl *framework.Client
	BeforeEach(func() { cl = c.Client() })
	t := c.Target()
	what := resourceWord(c.Name())

	// TEN-001 ------------------------------------------------------------
	c.It("TEN-001", fmt.Sprintf("answers the admin of org A on org B's %s with 403 and the profile's body, because a valid principal must never reach another tenant's objects (OWASP API1)", what), func() {
		Expect(cl.Get(c.Paths().Foreign, c.UserHeaders(cl, t.Principals.Admin))).To(c.Be403())
	})
	c.It("TEN-001", fmt.Sprintf("answers the outsider (org B) on org A's %s with 403 and the profile's body, because the boundary holds in both directions", what), func() {
		Expect(cl.Get(c.Paths().Own, c.UserHeaders(cl, t.Principals.Outsider))).To(c.Be403())
	})
	c.It("TEN-001", fmt.Sprintf("serves the admin on its own %s with 200, so that the 403s above are about the tenant boundary and not a broken credential", what), func() {
		Expect(cl.Get(c.Paths().Own, c.UserHeaders(cl, t.Principals.Admin))).To(framework.HaveStatus(200))
	})
	c.ItShould("TEN-001", fmt.Sprintf("should answer another org's %s exactly like a nonexistent one (same status and body), because a difference tells an attacker which IDs exist in other tenants", what), func() {
		h := c.UserHeaders(cl, t.Principals.Admin)
		foreign := cl.Get(c.Paths().Foreign, h)
		missing := cl.Get(c.Paths().Missing, h)
		Expect(missing.Status).To(Equal(foreign.Status), "foreign and nonexistent IDs get different statuses\n%s\n%s", foreign.Exchange, missing.Exchange)
		Expect(bytes.Equal(foreign.Body, missing.Body)).To(BeTrue(), "foreign and nonexistent IDs get different bodies\n%s\n%s", foreign.Exchange, missing.Exchange)
	})

	// TEN-002 ------------------------------------------------------------
	if c.Name() == spec.Iotistica {
		c.It("TEN-002", "answers device A's key on device B's state with 403 and the profile's body, because a device key is bound to its own agent (seed 003: GET /device/:uuid/state with that device's key)", func() {
			h := framework.Cred(spec.TransportDeviceKey, t.Devices[0].APIKey)
			Expect(cl.Get(framework.DeviceStatePath(t.Devices[1].UUID), h)).To(c.Be403())
		})
		c.It("TEN-002", "answers device B's key on device A's state with 403 too, because the binding holds for every pair of devices", func() {
			h := framework.Cred(spec.TransportDeviceKey, t.Devices[1].APIKey)
			Expect(cl.Get(framework.DeviceStatePath(t.Devices[0].UUID), h)).To(c.Be403())
		})
		c.It("TEN-002", "serves each device's key on its own state with 200, so that the 403s above are about the binding and not a broken key", func() {
			for _, d := range t.Devices[:2] {
				Expect(cl.Get(framework.DeviceStatePath(d.UUID), framework.Cred(spec.TransportDeviceKey, d.APIKey))).To(framework.HaveStatus(200))
			}
		})
	}
})
