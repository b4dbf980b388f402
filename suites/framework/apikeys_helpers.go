package framework

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/authconform/authconform/spec"
)

// KeyMgmt is where the suite manages keys on a target: the target file's
// keyAPI when given (Declared), else the reference's paths from
// spec.Profile.Keys. Paths are relative to the profile's base path; the
// revoke path contains "{id}". List may be zero (no listing).
type KeyMgmt struct {
	Create, List, Revoke spec.Endpoint
	// Declared: the endpoints come from the target file's keyAPI, so a
	// 404/405 there means the file is wrong (error); otherwise they are
	// the reference's (ref-defined) paths and a 404/405 means the target
	// does not have them (not-applicable).
	Declared bool
}

// KeyMgmt returns the key-management endpoints for the context's target.
func (c *Ctx) KeyMgmt() KeyMgmt {
	if k := c.Target().KeyAPI; k != nil {
		return KeyMgmt{Create: k.Create, List: k.List, Revoke: k.Revoke, Declared: true}
	}
	var m KeyMgmt
	k := c.Profile.Keys
	if k == nil {
		return m
	}
	if k.Create != "" {
		m.Create = spec.Endpoint{Method: http.MethodPost, Path: k.Create}
	}
	if k.List != "" {
		m.List = spec.Endpoint{Method: http.MethodGet, Path: k.List}
	}
	if k.Delete != "" {
		m.Revoke = spec.Endpoint{Method: http.MethodDelete, Path: k.Delete + "/{id}"}
	}
	return m
}

// RevokePath is the revoke path with {id} replaced ("" without an
// endpoint or id).
func (k KeyMgmt) RevokePath(id string) string {
	if k.Revoke.IsZero() || id == "" {
		return ""
	}
	return strings.ReplaceAll(k.Revoke.Path, "{id}", url.PathEscape(id))
}

// NewKeyIn finds a newly created key in a creation response: a string
// value (of the object, or of an object nested in it) that starts with
// prefix and is longer than it; the value of field prefer wins, else the
// longest. id is the object's top-level "id" (a string or number). field
// is where the key was found.
func NewKeyIn(body []byte, prefix, prefer string) (secret, id, field string) {
	var m map[string]any
	if prefix == "" || json.Unmarshal(body, &m) != nil {
		return "", "", ""
	}
	type hit struct{ field, val string }
	var hits []hit
	var walk func(path string, v any, depth int)
	walk = func(path string, v any, depth int) {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, prefix) && len(x) > len(prefix) {
				hits = append(hits, hit{path, x})
			}
		case map[string]any:
			if depth > 3 {
				return
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x[k], depth+1)
			}
		}
	}
	walk("", m, 0)
	for _, h := range hits {
		if h.field == prefer {
			secret, field = h.val, h.field
		}
	}
	if secret == "" {
		for _, h := range hits {
			if len(h.val) > len(secret) {
				secret, field = h.val, h.field
			}
		}
	}
	switch v := m["id"].(type) {
	case string:
		id = v
	case float64:
		id = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return secret, id, field
}

// CreatedKey is a key the admin created for a check.
type CreatedKey struct {
	Resp *Resp
	// Secret is the new key ("" when the response shows no string value
	// with the profile's prefix); Field is where it was found.
	Secret, ID, Field string
	// Admin is the credential that created it (and may revoke it).
	Admin http.Header
	Mgmt  KeyMgmt
}

// KeyPrefix is the prefix of the keys the profile's creation endpoint
// issues: user keys, else (iotistica) device keys.
func (c *Ctx) KeyPrefix() string {
	if c.Profile.UserKeyPrefix != "" {
		return c.Profile.UserKeyPrefix
	}
	return c.Profile.DeviceKeyPrefix
}

// CreateKey creates a key as the admin through the key-creation endpoint
// (the target file's keyAPI.create, else the reference's path; iotistica:
// for the target's second device). It is a positive control: a 404/405 at
// a ref-defined path ends the spec as not-applicable, any other non-2xx as
// error. The admin's default credential (API key, else JWT) is tried
// first; where an API key gets 401/403 and the profile has a login, the
// admin's JWT is tried: seed 000 creates keys in the web app (a login
// session), and an implementation may refuse to let a key mint keys. The
// secret is masked from the moment it is received.
func (c *Ctx) CreateKey(cl *Client) CreatedKey {
	m := c.KeyMgmt()
	if m.Create.IsZero() {
		SkipNotApplicable("the %s profile has no key-creation endpoint and the target file declares no keyAPI.create", c.Name())
	}
	body := map[string]any{"name": "authconform-" + spec.RandomBase62(8)}
	if c.Profile.DeviceKeyHeader != "" && c.Profile.UserKeyPrefix == "" {
		body["agentUuid"] = c.Target().Devices[1].UUID // seed 003: {name, agentUuid}
	}
	prefix, prefer := c.KeyPrefix(), ""
	if !m.Declared && c.Profile.Keys != nil {
		prefer = c.Profile.Keys.SecretJSON
	}
	reveal := func(b []byte) []string {
		if s, _, _ := NewKeyIn(b, prefix, prefer); s != "" {
			return []string{s}
		}
		return nil
	}
	admin := c.Target().Principals.Admin
	h := c.DefaultCred(cl, admin)
	create := func(h http.Header) *Resp {
		return cl.Do(Req{Method: m.Create.Method, Path: m.Create.Path, Header: h, JSON: body, Reveal: reveal})
	}
	r := create(h)
	if (r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden) && c.Profile.UserKeyPrefix != "" && c.Profile.Login != nil {
		hj := Cred(spec.TransportBearer, c.CachedLogin(cl, admin))
		if rj := create(hj); rj.Status >= 200 && rj.Status < 300 {
			r, h = rj, hj
		}
	}
	where := "keyAPI.create of the target file"
	if !m.Declared {
		where = "the reference's (ref-defined) endpoint; declare keyAPI in the target file if the implementation manages keys elsewhere"
		if (r.Status == 404 || r.Status == 405) && c.Profile.Keys != nil && c.Profile.Keys.RefDefined {
			SkipNotApplicable("the target answers %s with %d: it has no key creation there (%s)", m.Create, r.Status, where)
		}
	}
	Control(r, fmt.Sprintf("the admin creates a key with %s (%s)", m.Create, where), 200, 201, 202, 203, 204)
	secret, id, field := NewKeyIn(r.Body, prefix, prefer)
	return CreatedKey{Resp: r, Secret: secret, ID: id, Field: field, Admin: h, Mgmt: m}
}
