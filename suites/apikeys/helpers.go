package apikeys

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// adminJWT returns an access token of the admin (one login per run).
func adminJWT(c *framework.Ctx, cl *framework.Client) string {
	return c.CachedLogin(cl, c.Target().Principals.Admin)
}

// adminHeaders authenticate the admin for key management: the admin's API
// key where the profile has user keys, else (iotistica) the admin JWT.
func adminHeaders(c *framework.Ctx, cl *framework.Client) http.Header {
	if c.Profile.UserKeyPrefix != "" {
		return cl.UserCred(c.Target().Principals.Admin.APIKey)
	}
	return framework.Cred(spec.TransportBearer, adminJWT(c, cl))
}

func base62(n int) string { return framework.RandomBase62(n) }

// newKey is a key created by the admin for the checks.
type newKey struct {
	Resp   *framework.Resp
	Secret string
	ID     string
	// Use returns the request that proves the key works: the protected
	// resource (user keys) or the agent's state (iotistica device keys).
	Path   string
	Header http.Header
	admin  http.Header
}

// keyPrefix is the prefix of keys the profile's creation endpoint issues.
func keyPrefix(c *framework.Ctx) string {
	if c.Profile.UserKeyPrefix != "" {
		return c.Profile.UserKeyPrefix
	}
	return c.Profile.DeviceKeyPrefix
}

// createKey creates a key as the admin through the profile's key-creation
// endpoint (spec.Profile.Keys) and fails the spec unless it gets 200/201
// with a secret and an id. The secret is masked in every transcript.
func createKey(c *framework.Ctx, cl *framework.Client) newKey {
	k := c.Profile.Keys
	body := map[string]any{"name": "authconform-" + base62(8)}
	var path string
	if c.Name() == spec.Iotistica {
		uuid := c.Target().Devices[1].UUID
		body["agentUuid"] = uuid
		path = framework.DeviceStatePath(uuid)
	} else {
		path = c.Paths().Protected
	}
	h := adminHeaders(c, cl)
	r := cl.PostJSON(k.Create, h, body)
	m := r.JSONMap()
	secret, _ := m[k.SecretJSON].(string)
	cl.AddSecret(secret)
	ExpectWithOffset(1, r).To(framework.HaveStatus(200, 201), "creating a key through POST %s", k.Create)
	ExpectWithOffset(1, secret).NotTo(BeEmpty(), "the creation response has no %q field\n%s", k.SecretJSON, r.Exchange)
	id := ""
	if v, ok := m[k.IDJSON]; ok && v != nil {
		id = fmt.Sprint(v)
	}
	nk := newKey{Resp: r, Secret: secret, ID: id, Path: path, admin: h}
	if c.Name() == spec.Iotistica {
		nk.Header = framework.Cred(spec.TransportDeviceKey, secret)
	} else {
		nk.Header = cl.UserCred(secret)
	}
	return nk
}

// keyEndpoints returns the listing and revocation paths of the profile's
// keys ("" where it has none). spec.Profile.Keys leaves them empty for
// iotistica, whose seed documents only POST /auth/api-keys; the reference
// defines GET /auth/api-keys and DELETE /auth/api-keys/{id} there, so the
// specs try them and skip with the reason when a target answers 404/405.
func keyEndpoints(c *framework.Ctx) (list, del string) {
	k := c.Profile.Keys
	list, del = k.List, k.Delete
	if c.Name() == spec.Iotistica {
		if list == "" {
			list = "/auth/api-keys"
		}
		if del == "" {
			del = "/auth/api-keys"
		}
	}
	return list, del
}

// revokePath is where the key is revoked ("" when the profile has no
// revocation endpoint).
func revokePath(c *framework.Ctx, nk newKey) string {
	_, del := keyEndpoints(c)
	if del == "" || nk.ID == "" {
		return ""
	}
	return del + "/" + url.PathEscape(nk.ID)
}

// notImplemented reports whether a status says the endpoint does not exist.
func notImplemented(status int) bool {
	return status == 404 || status == 405 || status == 501
}

// revoke deletes the key as the admin and expects 200 or 204.
func revoke(c *framework.Ctx, cl *framework.Client, nk newKey) {
	p := revokePath(c, nk)
	if p == "" {
		Skip(fmt.Sprintf("profile %s has no revocation endpoint in spec.Profile.Keys", c.Name()))
	}
	r := cl.Do(framework.Req{Method: http.MethodDelete, Path: p, Header: nk.admin})
	if notImplemented(r.Status) {
		Skip(fmt.Sprintf("the target answers DELETE %s/{id} with %d: no way to revoke a key here", p[:len(p)-len(url.PathEscape(nk.ID))-1], r.Status))
	}
	ExpectWithOffset(1, r).To(framework.HaveStatus(200, 204), "revoking the key with DELETE %s/{id}", p[:len(p)-len(url.PathEscape(nk.ID))-1])
}

// cleanup revokes the key quietly (DeferCleanup).
func cleanup(c *framework.Ctx, cl *framework.Client, nk newKey) func() {
	return func() {
		if p := revokePath(c, nk); p != "" {
			_, _ = cl.Try(context.Background(), framework.Req{Method: http.MethodDelete, Path: p, Header: nk.admin})
		}
	}
}
