package jwt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"math/big"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	jwtlib "github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/framework/forge"
)

// send runs r through cl and records the exchange in the spec report
// with every token the response hands out masked: login and refresh
// answers carry fresh credentials, and the client learns only the fields
// it knows, so the tokens parseTokens finds (also under another field
// name) and every other JWS of the answer are revealed to it (Req.Reveal)
// with their signature segments (secretsOf). A transport error ends the
// spec as error (the answer cannot be judged).
func send(cl *framework.Client, l *spec.Login, r framework.Req) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	if l != nil {
		r.Reveal = func(body []byte) []string {
			resp := &framework.Resp{Body: body}
			t := parseTokens(l, resp)
			return append(secretsOf(t.Access, t.Refresh), secretsOf(jwsValues(resp.JSONMap())...)...)
		}
	}
	resp, err := cl.Try(context.Background(), r)
	if err != nil {
		framework.Inconclusive("%v", err)
	}
	var t framework.Tokens
	if l != nil {
		t = parseTokens(l, resp)
	}
	resp.Exchange = maskResponseJWS(resp.Exchange)
	AddReportEntry("exchange", resp.Exchange, ReportEntryVisibilityNever)
	return resp, t
}

// jwsLike matches a compact JWS, or the start of one cut short by the
// transcript's shortening.
var jwsLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}(\.[A-Za-z0-9_-]*){0,2}`)

// maskResponseJWS masks every JWS-looking string left on the response
// lines ("< ") of a transcript: send reveals the top-level ones, but an
// answer may nest a token deeper (rigbox's login is ref-defined, its shape
// the target's), and the transcript then cuts such a token at its length
// limit instead of masking it.
func maskResponseJWS(ex string) string {
	lines := strings.Split(ex, "\n")
	for i, ln := range lines {
		if strings.HasPrefix(ln, "< ") {
			lines[i] = jwsLike.ReplaceAllStringFunc(ln, func(s string) string {
				if strings.HasSuffix(s, "…(masked)") {
					return s
				}
				return s[:6] + "…(masked)"
			})
		}
	}
	return strings.Join(lines, "\n")
}

// secretsOf lists what must be masked for each genuine token: the token
// and its signature segment. Forged variants keep the genuine signature
// under another payload (JWT-003, JWT-005), and the genuine token could be
// pieced together from two such transcripts if only whole tokens were
// masked.
func secretsOf(toks ...string) []string {
	var out []string
	for _, x := range toks {
		if x == "" {
			continue
		}
		out = append(out, x)
		if i := strings.LastIndex(x, "."); i >= 0 && len(x)-i > 8 {
			out = append(out, x[i+1:])
		}
	}
	return out
}

// jwsValues lists the string values of a JSON object that look like a
// compact JWS, sorted by field name.
func jwsValues(m map[string]any) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		if s, ok := m[k].(string); ok && forge.IsJWS(s) {
			out = append(out, s)
		}
	}
	return out
}

// tokenField returns the value of field want when it is a non-empty
// string, else the first other field (by name, fields naming a token
// first) whose value is a compact JWS, skipping the values in not. It
// returns the field the token came from ("" if none). The shape of a login
// or refresh answer is seed-given only where the seed shows it; elsewhere
// the suite finds the token wherever the target put it.
func tokenField(m map[string]any, want string, not ...string) (tok, field string) {
	if s, ok := m[want].(string); ok && s != "" {
		return s, want
	}
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool {
		return strings.Contains(strings.ToLower(keys[i]), "token") && !strings.Contains(strings.ToLower(keys[j]), "token")
	})
next:
	for _, k := range keys {
		s, ok := m[k].(string)
		if !ok || !forge.IsJWS(s) {
			continue
		}
		for _, n := range not {
			if s == n {
				continue next
			}
		}
		return s, k
	}
	return "", ""
}

// parseTokens reads a login or refresh answer: the profile's fields, and
// where they are absent a JWS under another name (access first, then a
// different one as refresh token for profiles with refresh tokens).
func parseTokens(l *spec.Login, r *framework.Resp) framework.Tokens {
	t := framework.ParseTokens(l, r)
	m := r.JSONMap()
	if m == nil {
		return t
	}
	if t.Access == "" {
		t.Access, _ = tokenField(m, l.AccessField)
	}
	if l.RefreshField != "" && t.Refresh == "" {
		t.Refresh, _ = tokenField(m, l.RefreshField, t.Access)
	}
	return t
}

// loginResp posts the profile's login with email and password and returns
// the raw response (tokens masked) and the parsed tokens.
func loginResp(c *framework.Ctx, cl *framework.Client, email, password string) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	return send(cl, c.Profile.Login, framework.Req{
		Method: http.MethodPost, Path: c.Profile.Login.Path,
		JSON: map[string]string{"email": email, "password": password},
	})
}

// loginAbsent ends the spec as not-applicable when the profile's login is
// ref-defined (rigbox: the seed documents no login endpoint) and the target
// answers 404 or 405 there: it has no such login, and every JWT spec needs
// one.
func loginAbsent(c *framework.Ctx, r *framework.Resp) {
	GinkgoHelper()
	l := c.Profile.Login
	if l.RefDefined && (r.Status == http.StatusNotFound || r.Status == http.StatusMethodNotAllowed) {
		framework.SkipNotApplicable("the login POST %s%s is ref-defined (the seed documents no login endpoint) and the target answered %d: it has no such login", c.Profile.BasePath, l.Path, r.Status)
	}
}

// login logs p in as a positive control: the spec judges something else,
// so a failed login makes it error (a 404/405 at rigbox's ref-defined
// login: not-applicable), never failed. JWT-001 judges the login itself.
func login(c *framework.Ctx, cl *framework.Client, p spec.Principal) framework.Tokens {
	GinkgoHelper()
	r, t := loginResp(c, cl, p.Email, p.Password)
	loginAbsent(c, r)
	ok := []int{http.StatusOK}
	if c.Profile.Login.RefDefined {
		ok = append(ok, http.StatusCreated) // no seed shows the status
	}
	framework.Control(r, "login as "+p.Email+" with the password of the target file", ok...)
	if t.Access == "" && c.Profile.Login.RefDefined {
		framework.SkipNotApplicable("the ref-defined login answered 200 without any JWT in its body (neither %q nor another field): the suite cannot obtain a token", c.Profile.Login.AccessField)
	}
	framework.ControlOK(t.Access != "", "login as %s answered 200 without an access token (%q)\n%s", p.Email, c.Profile.Login.AccessField, r.Exchange)
	return t
}

// refresh sends the profile's refresh request: the current token as bearer
// (roboticks) or {refreshToken: tok} (iotistica).
func refresh(c *framework.Ctx, cl *framework.Client, tok string) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	l := c.Profile.Login
	if l.RefreshStyle != spec.RefreshBearerCurrent && l.RefreshStyle != spec.RefreshBodyToken {
		Fail("jwt: profile " + string(c.Name()) + " has no refresh style")
	}
	return send(cl, l, refreshReq(l, tok))
}

// refreshReq is the refresh request for tok, for goroutines (cl.Try).
func refreshReq(l *spec.Login, tok string) framework.Req {
	if l.RefreshStyle == spec.RefreshBearerCurrent {
		return framework.Req{Method: http.MethodPost, Path: l.RefreshPath, Header: framework.Cred(spec.TransportBearer, tok)}
	}
	return framework.Req{Method: http.MethodPost, Path: l.RefreshPath, JSON: map[string]string{l.RefreshBodyIn: tok}}
}

// bearerGet sends GET path with tok as bearer token and records it.
func bearerGet(cl *framework.Client, path, tok string) *framework.Resp {
	GinkgoHelper()
	r, _ := send(cl, nil, framework.Req{Method: http.MethodGet, Path: path, Header: framework.Cred(spec.TransportBearer, tok)})
	return r
}

// notThrottled ends the spec as error when r is a 429: a rate limit says
// nothing about the property the spec judges (SPEC.md §4 attribution).
func notThrottled(r *framework.Resp, what string) {
	GinkgoHelper()
	if r.Status == http.StatusTooManyRequests {
		framework.Inconclusive("%s was answered 429 (rate limited): the check cannot be judged\n%s", what, r.Exchange)
	}
}

// serverTime is the target's clock as its Date header shows it (RFC 9110
// §6.6.1: an origin server with a clock sends one), else the local clock.
// Times in forged claims are set from it, so a target whose clock is a few
// seconds off ours is judged by its own clock. Date has whole seconds and
// is never ahead of the server's clock.
func serverTime(r *framework.Resp) time.Time {
	if r != nil {
		if t, err := http.ParseTime(r.Header.Get("Date")); err == nil {
			return t
		}
	}
	return time.Now()
}

// tokens caches one login per principal and profile: the read-only checks
// forge from the same genuine token instead of paying for a password hash
// each time. Specs that rotate or revoke tokens log in themselves. It is
// the area's own cache, not the context's (framework.Ctx.CachedLogin):
// login here also finds a token the profile's field does not hold.
type tokens struct{ framework.LoginCache }

func (tc *tokens) get(c *framework.Ctx, cl *framework.Client, p spec.Principal) string {
	GinkgoHelper()
	tok := tc.Token(cl, p, func() string { return login(c, cl, p).Access })
	cl.AddSecret(secretsOf(tok)...)
	return tok
}

// claims decodes a genuine token's payload; a token that is not a JWS
// makes the spec error (JWT-001 judges the token's form).
func claims(tok string) map[string]any {
	GinkgoHelper()
	cl, err := forge.Claims(tok)
	framework.ControlOK(err == nil, "the issued access token must be a compact JWS to forge variants of it (JWT-001 judges its form): %v", err)
	return cl
}

func header(tok string) map[string]any {
	GinkgoHelper()
	h, _, _, err := forge.Parts(tok)
	framework.ControlOK(err == nil, "the issued access token must be a compact JWS to forge variants of it (JWT-001 judges its form): %v", err)
	return h
}

// num reads a numeric claim.
func num(m map[string]any, k string) (int64, bool) {
	switch v := m[k].(type) {
	case float64:
		return int64(v), v == float64(int64(v))
	case json.Number:
		n, err := v.Int64()
		return n, err == nil
	}
	return 0, false
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// hs256 signs header.payload with HMAC-SHA256 under any key, including an
// empty one (which golang-jwt refuses to use).
func hs256(header, payload map[string]any, key []byte) string {
	h := map[string]any{"typ": "JWT"}
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = "HS256"
	signing := forge.Assemble(h, payload, "")
	signing = signing[:len(signing)-1]
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// randomSecret is a fresh HS256 secret (32 random bytes, base64url).
func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// rsaPair is an RSA key made for this run, PEM encoded both ways (PKCS#8
// private, PKIX public: the shapes of seed 003's JWT_PRIVATE_KEY and
// JWT_PUBLIC_KEY).
type rsaPair struct {
	Key     *rsa.PrivateKey
	PrivPEM string
	PubPEM  string
	PubDER  []byte
}

var (
	keyOnce sync.Once
	keys    [2]rsaPair
)

// rsaKeys returns two RSA pairs generated once per process: [0] for RS256
// deployments, [1] as the attacker's foreign key.
func rsaKeys() [2]rsaPair {
	keyOnce.Do(func() {
		for i := range keys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			priv, _ := x509.MarshalPKCS8PrivateKey(k)
			pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
			keys[i] = rsaPair{
				Key:     k,
				PrivPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv})),
				PubPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})),
				PubDER:  pub,
			}
		}
	})
	return keys
}

// deploy starts a separate instance of the profile with vars and returns
// it with a client for it. The instance stops when the spec ends. A
// deployment that does not start makes the spec error.
func deploy(ctx context.Context, c *framework.Ctx, vars map[string]string) (*spec.Target, *framework.Client) {
	GinkgoHelper()
	t, stop, err := c.Env.Deploy(ctx, vars)
	if err != nil {
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		framework.Inconclusive("could not deploy %s with %s: %v", c.Name(), strings.Join(names, ", "), err)
	}
	DeferCleanup(stop)
	cl := c.Client().For(t)
	for _, v := range vars {
		cl.AddSecret(v)
	}
	return t, cl
}

// signRS256 signs claims with an RSA key and extra header fields.
func signRS256(k rsaPair, hdr, claims map[string]any) (string, error) {
	t := jwtlib.NewWithClaims(jwtlib.SigningMethodRS256, jwtlib.MapClaims(claims))
	for n, v := range hdr {
		t.Header[n] = v
	}
	return t.SignedString(k.Key)
}

// jwk is the public JWK (RFC 7517) of k.
func jwk(k rsaPair, kid string) map[string]any {
	e := big.NewInt(int64(k.Key.PublicKey.E)).Bytes()
	return map[string]any{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
		"n": base64.RawURLEncoding.EncodeToString(k.Key.PublicKey.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(e),
	}
}

// jwks is a JSON key set holding k's public key.
func jwks(k rsaPair, kid string) []byte {
	b, _ := json.Marshal(map[string]any{"keys": []any{jwk(k, kid)}})
	return b
}

// hmacJWS signs payload with HMAC under alg (HS256, HS384, HS512) and any
// key, the empty one included (which golang-jwt refuses to use).
func hmacJWS(alg string, payload map[string]any, key []byte) string {
	h := map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}[alg]
	signing := forge.Assemble(map[string]any{"alg": alg, "typ": "JWT"}, payload, "")
	signing = signing[:len(signing)-1]
	m := hmac.New(h, key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
