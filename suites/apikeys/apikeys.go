// Package apikeys holds the conformance specs of the API-key area
// (KEY-001 .. KEY-006): creation shows the secret once, revocation bites at
// once, keys carry exactly their owner's permissions, device keys stay on
// the device plane, and key comparison does not leak by timing.
package apikeys

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// restrictedFor returns a resource in the admin's organisation that the
// member may not read: the restricted project (roboticks) or, where the
// framework names none, the admin's own workspace/client, which the
// fixture contract keeps out of the member's reach.
func restrictedFor(c *framework.Ctx) string {
	if p := c.Paths().Restricted; p != "" {
		return p
	}
	switch c.Name() {
	case spec.Rigbox, spec.RequestRocket:
		return c.Paths().Own
	}
	return ""
}

// listedIDs reads the resource IDs of a listing: the "id" (or "clientId",
// "uuid") of every object in the first array of the body.
func listedIDs(body []byte) []string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return nil
	}
	var arr []any
	switch x := v.(type) {
	case []any:
		arr = x
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if a, ok := x[k].([]any); ok {
				arr = a
				break
			}
		}
	}
	var out []string
	for _, it := range arr {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		for _, f := range []string{"id", "clientId", "uuid"} {
			if s, ok := m[f].(string); ok && s != "" {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

var _ = framework.Area("apikeys", func(c *framework.Ctx) {
	var cl *framework.Client
	BeforeEach(func() { cl = c.Client() })
	t := c.Target()
	name := c.Name()

	// KEY-001 ------------------------------------------------------------
	if ch, _ := spec.Lookup("KEY-001"); ch.AppliesTo(name) && c.Profile.Keys != nil {
		c.It("KEY-001", fmt.Sprintf("returns a newly created key once, starting with %q, and the key works at once, because seed 000 shows the key exactly once at creation", keyPrefix(c)), func() {
			nk := createKey(c, cl)
			DeferCleanup(cleanup(c, cl, nk))
			// Booleans, not HavePrefix: Gomega would print the secret unmasked.
			Expect(strings.HasPrefix(nk.Secret, keyPrefix(c))).To(BeTrue(), "the created key lacks the profile's prefix %q (transcript masked)\n%s", keyPrefix(c), nk.Resp.Exchange)
			Expect(len(nk.Secret)).To(BeNumerically(">=", len(keyPrefix(c))+16), "the created key is too short to be a secret\n%s", nk.Resp.Exchange)
			Expect(cl.Get(nk.Path, nk.Header)).To(framework.HaveStatus(200))
		})
		c.It("KEY-001", "never shows a key's secret again after creation: listings and resource views do not contain it, because a secret shown later can be read by anyone with list access (seed 000: it won't be shown again)", func() {
			nk := createKey(c, cl)
			DeferCleanup(cleanup(c, cl, nk))
			secretPart := nk.Secret[len(keyPrefix(c)):]
			var views []string
			if l, _ := keyEndpoints(c); l != "" {
				views = append(views, l)
			}
			views = append(views, c.Paths().Protected)
			if name == spec.Iotistica {
				views = append(views, "/agents/"+t.Devices[1].UUID)
			}
			for _, v := range views {
				r := cl.Get(v, nk.admin)
				if v != c.Paths().Protected && notImplemented(r.Status) {
					continue // ref-defined listing the target does not have
				}
				Expect(r).To(framework.HaveStatus(200))
				Expect(strings.Contains(string(r.Body), secretPart)).To(BeFalse(), "GET %s shows the secret of the key created just before (masked here)\n%s", v, r.Exchange)
				// The admin's own long-lived key must not show either.
				if k := t.Principals.Admin.APIKey; k != "" {
					Expect(strings.Contains(string(r.Body), k)).To(BeFalse(), "GET %s shows the admin's API key (masked here)\n%s", v, r.Exchange)
				}
			}
		})
	}

	// KEY-002 ------------------------------------------------------------
	c.It("KEY-002", "refuses the target's revoked key with 401 and the profile's error body, because a revoked key must never authenticate again", func() {
		if c.Profile.UserKeyPrefix != "" {
			Expect(cl.Get(c.Paths().Protected, cl.UserCred(t.RevokedKey))).To(c.Be401())
		} else {
			Expect(cl.Get(framework.DeviceStatePath(t.Devices[0].UUID), framework.Cred(spec.TransportDeviceKey, t.RevokedKey))).To(c.Be401())
		}
	})
	if c.Profile.Keys != nil {
		c.It("KEY-002", "refuses a key with 401 on the very next request after it was revoked, having served it with 200 just before, because a revocation must bite at once, with no cache window", func() {
			nk := createKey(c, cl)
			DeferCleanup(cleanup(c, cl, nk))
			if revokePath(c, nk) == "" {
				Skip(fmt.Sprintf("the %s target has no key revocation endpoint (spec.Profile.Keys.Delete is empty)", name))
			}
			Expect(cl.Get(nk.Path, nk.Header)).To(framework.HaveStatus(200))
			revoke(c, cl, nk)
			Expect(cl.Get(nk.Path, nk.Header)).To(c.Be401())
		})
	}

	// KEY-003 ------------------------------------------------------------
	if p := restrictedFor(c); p != "" {
		c.It("KEY-003", "answers the member's key on a resource of its own organisation it has no access to with 403 and the profile's body, not 401 or 404, because the key is valid and only the permission is missing", func() {
			Expect(cl.Get(p, c.UserHeaders(cl, t.Principals.Member))).To(c.Be403())
		})
	}
	c.It("KEY-003", "answers the outsider's credential on the admin's resource with 403 and the profile's body, not 401 or 404, because the credential is valid and only the permission is missing", func() {
		Expect(cl.Get(c.Paths().Own, c.UserHeaders(cl, t.Principals.Outsider))).To(c.Be403())
	})
	c.It("KEY-003", "serves the member's credential on the shared resource of its own organisation with 200, so that the 403s above are about permission, not about a broken credential", func() {
		Expect(cl.Get(c.Paths().Protected, c.UserHeaders(cl, t.Principals.Member))).To(framework.HaveStatus(200))
	})

	// KEY-004 ------------------------------------------------------------
	if ch, _ := spec.Lookup("KEY-004"); ch.AppliesTo(name) {
		for _, who := range []struct {
			name string
			p    spec.Principal
		}{{"admin", t.Principals.Admin}, {"member", t.Principals.Member}, {"outsider", t.Principals.Outsider}} {
			who := who
			c.It("KEY-004", fmt.Sprintf("gives the %s's API key exactly the 200/403 answers of the %s's JWT on the shared, own, restricted and foreign resources and on every resource the JWT lists, because seed 000 says keys inherit the permissions of their creator", who.name, who.name), func() {
				tok := c.Login(cl, who.p)
				byJWT := framework.Cred(spec.TransportBearer, tok.Access)
				byKey := cl.UserCred(who.p.APIKey)
				paths := []string{}
				seen := map[string]bool{}
				add := func(p string) {
					if p != "" && !seen[p] {
						seen[p] = true
						paths = append(paths, p)
					}
				}
				ps := c.Paths()
				add(ps.Protected)
				add(ps.Own)
				add(ps.Restricted)
				add(ps.Foreign)
				// Resources the principal's JWT lists are ones it can reach:
				// the key must reach them too.
				if list := cl.Get(ps.Protected, byJWT); list.Status == 200 && name == spec.Rigbox {
					for _, id := range listedIDs(list.Body) {
						add(ps.Protected + "/" + id)
					}
				}
				var table []string
				var bad []string
				for _, p := range paths {
					rj := cl.Get(p, byJWT)
					rk := cl.Get(p, byKey)
					table = append(table, fmt.Sprintf("%-50s JWT %d  key %d", p, rj.Status, rk.Status))
					if rj.Status != rk.Status || (rj.Status != 200 && rj.Status != 403) {
						bad = append(bad, rj.Exchange+"\n"+rk.Exchange)
					}
				}
				Expect(bad).To(BeEmpty(), "the %s's key and JWT must both get 200 or both 403 on every resource:\n%s\n\nmismatches:\n%s",
					who.name, strings.Join(table, "\n"), strings.Join(bad, "\n---\n"))
			})
		}
	}

	// KEY-005 ------------------------------------------------------------
	if name == spec.Iotistica {
		devKey := framework.Cred(spec.TransportDeviceKey, t.Devices[0].APIKey)
		for _, ep := range []struct{ method, path string }{
			{http.MethodGet, "/agents"},
			{http.MethodGet, "/agents/" + t.Devices[0].UUID},
			{http.MethodPost, "/provision/keys"},
			{http.MethodPost, "/auth/api-keys"},
		} {
			ep := ep
			c.It("KEY-005", fmt.Sprintf("should answer a device key on the user/admin endpoint %s %s with 403, because a device credential must not reach operator functions (OWASP API5)", ep.method, ep.path), func() {
				req := framework.Req{Method: ep.method, Path: ep.path, Header: devKey}
				if ep.method == http.MethodPost {
					req.JSON = map[string]any{"name": "authconform-device-probe", "agentUuid": t.Devices[0].UUID}
				}
				Expect(cl.Do(req)).To(c.Be403())
			})
		}
	}
})
