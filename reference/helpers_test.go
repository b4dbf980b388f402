package reference

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// clock is an injected, manually advanced clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a server under test with its clock and target.
type env struct {
	t      *testing.T
	s      *Server
	clk    *clock
	tg     *spec.Target
	p      *spec.Profile
	tokens map[string]string // email -> access token (cached logins)
}

func newEnv(t *testing.T, p spec.ProfileName, mods ...func(*Config)) *env {
	t.Helper()
	clk := newClock()
	cfg := Config{Profile: p, Now: clk.Now}
	for _, m := range mods {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return &env{t: t, s: s, clk: clk, tg: s.Target("http://127.0.0.1:1"), p: s.profile, tokens: map[string]string{}}
}

func withFaults(f ...string) func(*Config) { return func(c *Config) { c.Faults = f } }

func withEnv(kv ...string) func(*Config) {
	return func(c *Config) {
		c.Env = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			c.Env[kv[i]] = kv[i+1]
		}
	}
}

type resp struct {
	code int
	h    http.Header
	body []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %q", err, r.body)
	}
	return m
}

// hdr builds headers from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// do sends a request to the handler; path is relative to the base path
// unless it starts with "!".
func (e *env) do(method, path string, h http.Header, body string) resp {
	if strings.HasPrefix(path, "!") {
		path = path[1:]
	} else {
		path = e.p.BasePath + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for k, vs := range h {
		req.Header[k] = vs
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.s.Handler().ServeHTTP(rec, req)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func (e *env) get(path string, h http.Header) resp { return e.do(http.MethodGet, path, h, "") }

// key returns the headers for a user key by the profile's default transport.
func (e *env) key(k string) http.Header {
	if e.p.Name == spec.RequestRocket {
		return hdr("Authorization", k)
	}
	return hdr("Authorization", "Bearer "+k)
}

func bearerH(tok string) http.Header { return hdr("Authorization", "Bearer "+tok) }

func devH(k string) http.Header { return hdr("X-Device-API-Key", k) }

// login logs in (cached per email) and returns the access token.
func (e *env) login(email, password string) string {
	e.t.Helper()
	if tok, ok := e.tokens[email]; ok {
		return tok
	}
	r := e.do(http.MethodPost, "/auth/login", nil, `{"email":"`+email+`","password":"`+password+`"}`)
	if r.code != 200 {
		e.t.Fatalf("login %s: %d %s", email, r.code, r.body)
	}
	tok, _ := r.json(e.t)[e.p.Login.AccessField].(string)
	e.tokens[email] = tok
	return tok
}

func (e *env) admin() string { return e.login(fixtures.AdminEmail, fixtures.AdminPassword) }
func (e *env) member() string {
	return e.login(fixtures.MemberEmail, fixtures.MemberPassword)
}

// protected returns a protected path the admin may read.
func (e *env) protected() string {
	switch e.p.Name {
	case spec.Roboticks:
		return "/organizations/acme/devices"
	case spec.Rigbox:
		return "/workspaces"
	case spec.RequestRocket:
		return "/clients"
	default:
		return "/agents"
	}
}

// adminCred returns the admin's default credential headers.
func (e *env) adminCred() http.Header {
	if e.p.UserKeyPrefix != "" {
		return e.key(e.tg.Principals.Admin.APIKey)
	}
	return bearerH(e.admin())
}

func expect(t *testing.T, r resp, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.code, code, r.body)
	}
}

// forge signs claims with the HS256 fixture secret.
func forgeHS(t *testing.T, secret string, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) accessClaims(sub string, iat time.Time, life time.Duration) jwt.MapClaims {
	return jwt.MapClaims{"iss": e.s.issuer(), "sub": sub, "iat": iat.Unix(), "exp": iat.Add(life).Unix(), "token_use": "access", "jti": "x"}
}
