package framework

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/authconform/authconform/spec"
)

// Tokens is what a login or refresh returned.
type Tokens struct {
	Access    string
	Refresh   string
	ExpiresIn int64
	Resp      *Resp
}

// Login logs principal p in through the profile's login endpoint. It is a
// positive control: a spec that logs in needs a token, and a login that
// does not answer 200 with one (a 429, a 5xx, a wrong password in the
// target file) ends the spec as error, never as failed: checks that judge
// the login itself (JWT-001) send their own request. A ref-defined login
// that answers 404/405 makes the spec not-applicable. The tokens are added
// to the client's masked secrets.
func (c *Ctx) Login(cl *Client, p spec.Principal) Tokens {
	if c.Profile.Login == nil {
		SkipNotApplicable("profile %s has no login", c.Name())
	}
	r := cl.PostJSON(c.Profile.Login.Path, nil, map[string]string{"email": p.Email, "password": p.Password})
	if c.Profile.Login.RefDefined && (r.Status == 404 || r.Status == 405) {
		SkipNotApplicable("the target has no login at %s%s (ref-defined): %d", c.Profile.BasePath, c.Profile.Login.Path, r.Status)
	}
	Control(r, "login as "+p.Email, 200)
	t := ParseTokens(c.Profile.Login, r)
	ControlOK(t.Access != "", "login as %s: the response has no %q\n%s", p.Email, c.Profile.Login.AccessField, r.Exchange)
	cl.AddSecret(t.Access, t.Refresh)
	return t
}

// ParseTokens reads the profile's login/refresh response fields.
func ParseTokens(l *spec.Login, r *Resp) Tokens {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	t := Tokens{Resp: r}
	t.Access, _ = m[l.AccessField].(string)
	if l.RefreshField != "" {
		t.Refresh, _ = m[l.RefreshField].(string)
	}
	if f, ok := m[l.ExpiresField].(float64); ok {
		t.ExpiresIn = int64(f)
	}
	return t
}

// LoginCache keeps one access token per principal across specs: login is
// bound by password hashing, so specs that merely need a valid token share
// one; specs that rotate or revoke tokens log in themselves. The zero value
// is ready for use. Every context has one (CachedLogin); an area whose
// login finds tokens where Ctx.Login does not keeps its own.
type LoginCache struct {
	mu sync.Mutex
	m  map[string]string // email -> access token
}

// Token returns p's cached access token; on the first call for p it is
// login's (a login that ends the spec caches nothing). The token is masked
// in cl's transcripts.
func (lc *LoginCache) Token(cl *Client, p spec.Principal, login func() string) string {
	lc.mu.Lock()
	tok, ok := lc.m[p.Email]
	lc.mu.Unlock()
	if !ok {
		tok = login()
		lc.mu.Lock()
		if lc.m == nil {
			lc.m = map[string]string{}
		}
		lc.m[p.Email] = tok
		lc.mu.Unlock()
	}
	cl.AddSecret(tok)
	return tok
}

// CachedLogin returns an access token of p, logging in (Login) on the
// first call per context and principal only. The token is masked in cl's
// transcripts.
func (c *Ctx) CachedLogin(cl *Client, p spec.Principal) string {
	return c.logins.Token(cl, p, func() string { return c.Login(cl, p).Access })
}

// DefaultSecret is p's default credential: p's user API key where the
// profile has user keys, else (iotistica) an access token of p
// (CachedLogin, so a positive control).
func (c *Ctx) DefaultSecret(cl *Client, p spec.Principal) string {
	if c.Profile.UserKeyPrefix != "" {
		return p.APIKey
	}
	return c.CachedLogin(cl, p)
}

// DefaultCred returns the headers that authenticate p by its default
// credential (DefaultSecret): the user API key by the profile's default
// transport, or the access token as Bearer.
func (c *Ctx) DefaultCred(cl *Client, p spec.Principal) http.Header {
	if c.Profile.UserKeyPrefix != "" {
		return cl.UserCred(p.APIKey)
	}
	return Cred(spec.TransportBearer, c.CachedLogin(cl, p))
}
