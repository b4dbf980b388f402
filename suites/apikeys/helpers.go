package apikeys

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// newKey is a key created by the admin for the checks.
type newKey struct {
	Resp *framework.Resp
	// Secret is the new key ("" when the creation response shows no string
	// with the profile's prefix); Field is where it was found.
	Secret, Field string
	ID            string
	// Path and Header are the request that proves the key works: the
	// protected resource (user keys) or the agent's state (iotistica device
	// keys).
	Path   string
	Header http.Header
	admin  http.Header
	mgmt   framework.KeyMgmt
}

// keyPrefix is the prefix of keys the profile's creation endpoint issues.
func keyPrefix(c *framework.Ctx) string { return c.KeyPrefix() }

// notFound reports whether a status says the endpoint does not exist.
func notFound(status int) bool { return status == 404 || status == 405 }

// refDefinedPath reports whether path is a per-object resource path that
// only the reference defines: seed 000 documents roboticks' project paths,
// the other seeds show only the lists (rigbox /workspaces, requestrocket
// /clients, iotistica /agents) and iotistica's device state.
func refDefinedPath(c *framework.Ctx, path string) bool {
	if !c.Profile.Resources.ByIDRefDefined {
		return false
	}
	return strings.HasPrefix(path, c.Paths().Protected+"/")
}

// ownerControl is the positive control of a resource's rightful owner: on
// a ref-defined per-object path a 404/405 means the target has no such
// endpoint (not-applicable, never error); else anything but codes is error.
func ownerControl(c *framework.Ctx, r *framework.Resp, path, what string, codes ...int) *framework.Resp {
	GinkgoHelper()
	if notFound(r.Status) && refDefinedPath(c, path) {
		framework.SkipNotApplicable("%s answered %d: the target has no such endpoint (the per-object path is ref-defined)\n%s", what, r.Status, r.Exchange)
	}
	return framework.Control(r, what, codes...)
}

// where names the origin of an endpoint in reasons.
func where(m framework.KeyMgmt, field string) string {
	if m.Declared {
		return "keyAPI." + field + " of the target file"
	}
	return "the reference's (ref-defined) endpoint; declare keyAPI in the target file if the implementation manages keys elsewhere"
}

// createKey creates a key as the admin (framework.CreateKey: a control)
// and says how to prove it works: the protected resource (user keys) or
// the agent's state (iotistica device keys). The secret is "" when the
// response shows none (the caller decides what that means).
func createKey(c *framework.Ctx, cl *framework.Client) newKey {
	k := c.CreateKey(cl)
	nk := newKey{Resp: k.Resp, Secret: k.Secret, Field: k.Field, ID: k.ID, Path: c.Paths().Protected, admin: k.Admin, mgmt: k.Mgmt}
	nk.Header = cl.UserCred(k.Secret)
	if c.Profile.UserKeyPrefix == "" && c.Profile.Can(spec.CapDeviceKeys) {
		// The keys API issues device keys: they authenticate on a device's state.
		nk.Path = c.DeviceStatePath(c.Target().Devices[1].UUID)
		nk.Header = framework.Cred(spec.TransportDeviceKey, k.Secret)
	}
	return nk
}

// requireSecret ends the spec as error when the creation response showed
// no key: the spec needs a key it can use (KEY-001 asserts the secret
// itself).
func requireSecret(c *framework.Ctx, nk newKey) {
	framework.ControlOK(nk.Secret != "", "the creation response (%d) shows no string value starting with %q, so there is no new key to use\n%s", nk.Resp.Status, keyPrefix(c), nk.Resp.Exchange)
}

// revoke revokes the key as the admin (keyAPI.revoke, else the reference's
// path) and expects a 2xx. Without an endpoint or id, or on a 404/405 at a
// ref-defined path, the spec ends as not-applicable; with a declared
// keyAPI those are failed controls (error).
func revoke(c *framework.Ctx, cl *framework.Client, nk newKey) {
	m := nk.mgmt
	if m.Revoke.IsZero() {
		framework.SkipNotApplicable("the %s profile has no key-revocation endpoint and the target file declares no keyAPI", c.Name())
	}
	if nk.ID == "" {
		if m.Declared {
			framework.Inconclusive("the creation response has no \"id\" (keyAPI.create must answer a JSON object with \"id\"), so the key cannot be revoked with %s\n%s", m.Revoke, nk.Resp.Exchange)
		}
		framework.SkipNotApplicable("the creation response has no \"id\" field, so the key cannot be revoked at the reference's %s; declare keyAPI in the target file\n%s", m.Revoke, nk.Resp.Exchange)
	}
	r := cl.Do(framework.Req{Method: m.Revoke.Method, Path: m.RevokePath(nk.ID), Header: nk.admin})
	if notFound(r.Status) && !m.Declared {
		framework.SkipNotApplicable("the target answers %s with %d: no way to revoke a key there (%s)", m.Revoke, r.Status, where(m, "revoke"))
	}
	framework.Control(r, fmt.Sprintf("the admin revokes the key with %s (%s)", m.Revoke, where(m, "revoke")), 200, 202, 204)
}

// cleanup revokes the key quietly (DeferCleanup).
func cleanup(cl *framework.Client, nk *newKey) func() {
	return func() {
		if p := nk.mgmt.RevokePath(nk.ID); p != "" && nk.Resp != nil {
			_, _ = cl.Try(context.Background(), framework.Req{Method: nk.mgmt.Revoke.Method, Path: p, Header: nk.admin})
		}
	}
}

// registerCleanup revokes nk at the end of the spec.
func registerCleanup(cl *framework.Client, nk newKey) {
	DeferCleanup(cleanup(cl, &nk))
}
