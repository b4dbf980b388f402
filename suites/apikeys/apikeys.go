// Package apikeys holds the conformance specs of the API-key area
// (KEY-001 .. KEY-006): creation shows the secret once, revocation bites at
// once, keys carry exactly their owner's permissions, device keys stay on
// the device plane, and key comparison does not leak by timing.
package apikeys

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
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
	if c.Profile.Resources.OwnAdminOnly {
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
			// A numeric id (framework.NewKeyIn reads the created key's
			// id the same way).
			if n, ok := m[f].(float64); ok {
				out = append(out, strconv.FormatFloat(n, 'f', -1, 64))
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
	if ch, _ := spec.Lookup("KEY-001"); ch.AppliesTo(name) && (c.Profile.Keys != nil || t.KeyAPI != nil) {
		c.It("KEY-001", fmt.Sprintf("returns a newly created key in the creation response, starting with %q, and the key works at once, because seed 000 shows the key exactly once at creation", keyPrefix(c)), func() {
			nk := createKey(c, cl)
			registerCleanup(cl, nk)
			// Booleans, not HavePrefix: Gomega would print the secret unmasked.
			Expect(nk.Secret != "").To(BeTrue(), "the creation response shows no new key: no string value in it starts with the profile's prefix %q (the key must be shown once, at creation, with its prefix)\n%s", keyPrefix(c), nk.Resp.Exchange)
			framework.Control(cl.Get(nk.Path, nk.Header), "the key just created (found in field "+nk.Field+") on "+nk.Path, 200)
			if !nk.mgmt.Declared && nk.Field != c.Profile.Keys.SecretJSON {
				framework.ShouldNote("the reference returns the new key in field %q; this target returns it in %q", c.Profile.Keys.SecretJSON, nk.Field)
			}
			if len(nk.Secret) < len(keyPrefix(c))+16 {
				framework.ShouldNote("the new key has only %d characters after its prefix; the seeds' examples have 16 or more (a short key can be guessed)", len(nk.Secret)-len(keyPrefix(c)))
			}
		})
		c.It("KEY-001", "never shows a key's secret again after creation: listings and resource views do not contain it, because a secret shown later can be read by anyone with list access (seed 000: it won't be shown again)", func() {
			nk := createKey(c, cl)
			registerCleanup(cl, nk)
			requireSecret(c, nk)
			// The key works: it is the key, and what is searched for below
			// is really its secret.
			framework.Control(cl.Get(nk.Path, nk.Header), "the key just created on "+nk.Path, 200)
			secretPart := nk.Secret[len(keyPrefix(c)):]
			type view struct {
				path     string
				listing  bool
				declared bool
			}
			var views []view
			if l := nk.mgmt.List; !l.IsZero() {
				views = append(views, view{l.Path, true, nk.mgmt.Declared})
			} else {
				framework.Info("no key listing (the target file's keyAPI declares none): only resource views are searched for the secret")
			}
			views = append(views, view{path: c.Paths().Protected})
			if c.Profile.Can(spec.CapDeviceKeys) && len(t.Devices) > 1 {
				// The key is a device key: the device resources show it too.
				views = append(views, view{path: c.DeviceResource(1)})
			}
			for _, v := range views {
				method := http.MethodGet
				if v.listing {
					method = nk.mgmt.List.Method
				}
				r := cl.Do(framework.Req{Method: method, Path: v.path, Header: nk.admin})
				if v.listing && !v.declared && notFound(r.Status) {
					framework.Info("the target answers %s %s with %d: no key listing at the reference's (ref-defined) path; only resource views are searched", method, v.path, r.Status)
					continue
				}
				if !v.listing && notFound(r.Status) && refDefinedPath(c, v.path) {
					framework.Info("the target answers %s %s with %d: it has no such (ref-defined) per-object view; not searched", method, v.path, r.Status)
					continue
				}
				framework.Control(r, fmt.Sprintf("the admin reads %s %s", method, v.path), 200, 201, 202, 203)
				Expect(strings.Contains(string(r.Body), secretPart)).To(BeFalse(), "%s %s shows the secret of the key created just before (masked here)\n%s", method, v.path, r.Exchange)
				// The admin's own long-lived key must not show either.
				if k := t.Principals.Admin.APIKey; k != "" {
					Expect(strings.Contains(string(r.Body), k)).To(BeFalse(), "%s %s shows the admin's API key (masked here)\n%s", method, v.path, r.Exchange)
				}
				if v.listing && nk.ID != "" {
					// The listing is the key listing: it names the new key.
					listed := slices.Contains(listedIDs(r.Body), nk.ID)
					if v.declared {
						framework.ControlOK(listed, "keyAPI.list (%s) must list the key just created (id %q) as an object with \"id\"\n%s", nk.mgmt.List, nk.ID, r.Exchange)
					} else if !listed {
						framework.ShouldNote("the reference's key listing %s names every key of the caller by \"id\"; this target's answer does not list the new key %q", v.path, nk.ID)
					}
				}
			}
		})
	}

	// KEY-002 ------------------------------------------------------------
	c.It("KEY-002", "refuses the target's revoked key with 401 and the profile's error body, where a valid key gets 200 on the same resource, because a revoked key must never authenticate again", func() {
		if c.Profile.UserKeyPrefix != "" {
			p := c.Paths().Protected
			framework.Control(cl.Get(p, cl.UserCred(t.Principals.Admin.APIKey)), "the admin's valid key on "+p, 200)
			Expect(cl.Get(p, cl.UserCred(t.RevokedKey))).To(c.Be401())
		} else {
			p := c.DeviceStatePath(t.Devices[0].UUID)
			framework.Control(cl.Get(p, framework.Cred(spec.TransportDeviceKey, t.Devices[0].APIKey)), "devices[0]'s valid key on its own state "+p, 200)
			Expect(cl.Get(p, framework.Cred(spec.TransportDeviceKey, t.RevokedKey))).To(c.Be401())
		}
	})
	if c.Profile.Keys != nil || t.KeyAPI != nil {
		c.It("KEY-002", "refuses a key with 401 on the very next request after it was revoked, having served it with 200 right before, because a revocation must bite at once, with no cache window", func() {
			nk := createKey(c, cl)
			registerCleanup(cl, nk)
			requireSecret(c, nk)
			framework.Control(cl.Get(nk.Path, nk.Header), "the new key right before it is revoked, on "+nk.Path, 200)
			revoke(c, cl, nk)
			Expect(cl.Get(nk.Path, nk.Header)).To(c.Be401())
		})
	}

	// KEY-003 ------------------------------------------------------------
	if p := restrictedFor(c); p != "" {
		c.It("KEY-003", "answers the member's key on a resource of its own organisation it has no access to with 403 and the profile's body, not 401 or 404, where the admin gets 200 on that resource and the member's key 200 on the shared one, because the key is valid and only the permission is missing", func() {
			ownerControl(c, cl.Get(p, c.DefaultCred(cl, t.Principals.Admin)), p, "the admin (the resource's owner) on "+p, 200)
			framework.Control(cl.Get(c.Paths().Protected, c.DefaultCred(cl, t.Principals.Member)), "the member's credential on the shared resource "+c.Paths().Protected, 200)
			Expect(cl.Get(p, c.DefaultCred(cl, t.Principals.Member))).To(c.Be403())
		})
	}
	outsiderRefusal := "403 and the profile's body, not 401 or 404"
	if c.Profile.Resources.RefusalRefDefined {
		outsiderRefusal = "403 or 404 (the seed gives no status; the reference's 403 and body are SHOULD), not 401"
	}
	c.It("KEY-003", "answers the outsider's credential on the admin's resource with "+outsiderRefusal+", where the admin gets 200 on it and the outsider 200 on its own organisation's resource, because the credential is valid and only the permission is missing", func() {
		own, foreign := c.Paths().Own, c.Paths().Foreign
		ownerControl(c, cl.Get(own, c.DefaultCred(cl, t.Principals.Admin)), own, "the admin (the resource's owner) on "+own, 200)
		ownerControl(c, cl.Get(foreign, c.DefaultCred(cl, t.Principals.Outsider)), foreign, "the outsider's credential on its own organisation's resource "+foreign, 200)
		r := cl.Get(own, c.DefaultCred(cl, t.Principals.Outsider))
		if c.Profile.Resources.RefusalRefDefined && r.Status == http.StatusNotFound {
			// Seed 003 gives no status for another tenant's agent: a 404
			// that hides it is conformant (as in TEN-001); the
			// reference's 403 is SHOULD.
			framework.ShouldNote("the outsider's credential on the admin's agent %s got 404; the reference answers 403 (ref-defined, SHOULD)", own)
			return
		}
		Expect(r).To(c.Be403())
	})

	// KEY-004 ------------------------------------------------------------
	if ch, _ := spec.Lookup("KEY-004"); ch.AppliesTo(name) {
		ps := c.Paths()
		for _, who := range []struct {
			name string
			p    spec.Principal
			// home is a resource the principal rightfully reads: the
			// control that its JWT works and the matrix is not all 403.
			home string
		}{{"admin", t.Principals.Admin, ps.Own}, {"member", t.Principals.Member, ps.Protected}, {"outsider", t.Principals.Outsider, ps.Foreign}} {
			who := who
			c.It("KEY-004", fmt.Sprintf("gives the %s's API key exactly the 200/403 answers of the %s's JWT on the shared, own, restricted and foreign resources and on every resource the JWT lists, where the JWT gets 200 on the %s's own resource, because seed 000 says keys inherit the permissions of their creator", who.name, who.name, who.name), func() {
				tok := c.Login(cl, who.p)
				byJWT := framework.Cred(spec.TransportBearer, tok.Access)
				byKey := cl.UserCred(who.p.APIKey)
				ownerControl(c, cl.Get(who.home, byJWT), who.home, fmt.Sprintf("the %s's JWT on its own resource %s", who.name, who.home), 200)
				paths := []string{}
				seen := map[string]bool{}
				add := func(p string) {
					if p != "" && !seen[p] {
						seen[p] = true
						paths = append(paths, p)
					}
				}
				add(ps.Protected)
				add(ps.Own)
				add(ps.Restricted)
				add(ps.Foreign)
				// Resources the principal's JWT lists are ones it can reach:
				// the key must reach them too.
				if list := cl.Get(ps.Protected, byJWT); list.Status == 200 && c.Profile.Resources.Listing {
					for _, id := range listedIDs(list.Body) {
						add(ps.Protected + "/" + id)
					}
				}
				var table []string
				var bad []string
				for _, p := range paths {
					rj := cl.Get(p, byJWT)
					rk := cl.Get(p, byKey)
					for _, r := range []*framework.Resp{rj, rk} {
						if r.Status == 429 || r.Status >= 500 {
							framework.Inconclusive("GET %s answered %d: the comparison of key and JWT cannot be judged\n%s", p, r.Status, r.Exchange)
						}
					}
					if rj.Status == 401 {
						framework.Inconclusive("the %s's JWT gets 401 on %s right after login: the comparison cannot be judged\n%s", who.name, p, rj.Exchange)
					}
					table = append(table, fmt.Sprintf("%-50s JWT %d  key %d", p, rj.Status, rk.Status))
					if rj.Status != rk.Status {
						bad = append(bad, rj.Exchange+"\n"+rk.Exchange)
					}
				}
				Expect(bad).To(BeEmpty(), "the %s's key and JWT must get the same answer (200 or 403) on every resource:\n%s\n\nmismatches:\n%s",
					who.name, strings.Join(table, "\n"), strings.Join(bad, "\n---\n"))
			})
		}
	}

	// KEY-005 ------------------------------------------------------------
	if c.Profile.Can(spec.CapDeviceKeys) {
		devKey := framework.Cred(spec.TransportDeviceKey, t.Devices[0].APIKey)
		eps := []struct{ method, path string }{
			{http.MethodGet, c.Paths().Protected},
			{http.MethodGet, c.DeviceResource(0)},
		}
		provCreate, _, hasProv := c.Profile.ProvisioningPaths()
		if hasProv {
			eps = append(eps, struct{ method, path string }{http.MethodPost, provCreate}) // the profile's provisioning endpoint
		}
		if c.Profile.Keys != nil {
			eps = append(eps, struct{ method, path string }{http.MethodPost, c.Profile.Keys.Create})
		}
		for _, ep := range eps {
			ep := ep
			c.It("KEY-005", fmt.Sprintf("should answer a device key on the user/admin endpoint %s %s with 403, where the same key reads its own state and the admin's JWT is served there, because a device credential must not reach operator functions (OWASP API5)", ep.method, ep.path), func() {
				own := c.DeviceStatePath(t.Devices[0].UUID)
				framework.Control(cl.Get(own, devKey), "devices[0]'s key on its own state "+own, 200)
				req := framework.Req{Method: ep.method, Path: ep.path}
				switch {
				case c.Profile.Keys != nil && ep.path == c.Profile.Keys.Create:
					// seed 003's body of key generation
					req.JSON = map[string]any{"name": "authconform-device-probe", "agentUuid": t.Devices[0].UUID}
				case hasProv && ep.path == provCreate:
					// seed 003 shows no request body: send an empty object
					// (as the provisioning checks do), nothing an
					// implementation may refuse as unknown
					req.JSON = map[string]any{}
				}
				// The rightful owner of the endpoint: the admin.
				adm := req
				adm.Header = c.DefaultCred(cl, c.Target().Principals.Admin)
				ra := cl.Do(adm)
				ownerControl(c, ra, ep.path, fmt.Sprintf("the admin's JWT on %s %s", ep.method, ep.path), 200, 201)
				if c.Profile.Keys != nil && ep.path == c.Profile.Keys.Create {
					// Revoke the device key the control created.
					if _, id, _ := framework.NewKeyIn(ra.Body, c.Profile.DeviceKeyPrefix, c.Profile.Keys.SecretJSON); id != "" {
						m := c.KeyMgmt()
						DeferCleanup(func() {
							if p := m.RevokePath(id); p != "" {
								_, _ = cl.Try(context.Background(), framework.Req{Method: m.Revoke.Method, Path: p, Header: adm.Header})
							}
						})
					}
				}
				req.Header = devKey
				Expect(cl.Do(req)).To(c.Be403())
			})
		}
	}
})
