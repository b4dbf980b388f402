package framework

import (
	"encoding/json"

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

// CachedLogin returns an access token of p, logging in on the first call
// per context and principal only: login is bound by password hashing, so
// specs that merely need a valid JWT share one. The token is masked in
// cl's transcripts.
func (c *Ctx) CachedLogin(cl *Client, p spec.Principal) string {
	c.mu.Lock()
	tok, ok := c.tokens[p.Email]
	c.mu.Unlock()
	if !ok {
		tok = c.Login(cl, p).Access
		c.mu.Lock()
		if c.tokens == nil {
			c.tokens = map[string]string{}
		}
		c.tokens[p.Email] = tok
		c.mu.Unlock()
	}
	cl.AddSecret(tok)
	return tok
}
