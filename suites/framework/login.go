package framework

import (
	"encoding/json"
	"math/rand/v2"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
)

// Tokens is what a login or refresh returned.
type Tokens struct {
	Access    string
	Refresh   string
	ExpiresIn int64
	Resp      *Resp
}

// Login logs principal p in through the profile's login endpoint and fails
// the spec unless it gets 200 with an access token. The tokens are added to
// the client's masked secrets.
func (c *Ctx) Login(cl *Client, p spec.Principal) Tokens {
	if c.Profile.Login == nil {
		Fail("framework: profile " + string(c.Name()) + " has no login")
	}
	r := cl.PostJSON(c.Profile.Login.Path, nil, map[string]string{"email": p.Email, "password": p.Password})
	ExpectWithOffset(1, r).To(HaveStatus(200), "login as %s", p.Email)
	t := ParseTokens(c.Profile.Login, r)
	ExpectWithOffset(1, t.Access).NotTo(BeEmpty(), "login response has no %q\n%s", c.Profile.Login.AccessField, r.Exchange)
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

// RandomBase62 draws n random letters and digits, the alphabet of API key
// bodies, for unknown but well-formed keys.
func RandomBase62(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}
