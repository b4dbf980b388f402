package jwt

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"sync"

	jwtlib "github.com/golang-jwt/jwt/v5"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/framework/forge"
)

// send runs r through cl, masks every token the response hands out (login
// and refresh bodies carry fresh credentials) and only then records the
// exchange in the spec report. framework.Client.Do records the transcript
// before the caller can add the new tokens to the masked secrets, so the
// login and refresh calls of this package go through here instead.
func send(cl *framework.Client, l *spec.Login, r framework.Req) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	resp, err := cl.Try(context.Background(), r)
	Expect(err).NotTo(HaveOccurred())
	var t framework.Tokens
	if l != nil {
		t = framework.ParseTokens(l, resp)
		cl.AddSecret(secretsOf(t.Access, t.Refresh)...)
	}
	resp.Exchange = spec.Mask(resp.Exchange, cl.Secrets)
	AddReportEntry("exchange", resp.Exchange, ReportEntryVisibilityNever)
	return resp, t
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

// loginResp posts the profile's login with email and password and returns
// the raw response (tokens masked) and the parsed tokens.
func loginResp(c *framework.Ctx, cl *framework.Client, email, password string) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	return send(cl, c.Profile.Login, framework.Req{
		Method: http.MethodPost, Path: c.Profile.Login.Path,
		JSON: map[string]string{"email": email, "password": password},
	})
}

// login logs p in and fails the spec unless it gets 200 with an access
// token.
func login(c *framework.Ctx, cl *framework.Client, p spec.Principal) framework.Tokens {
	GinkgoHelper()
	r, t := loginResp(c, cl, p.Email, p.Password)
	Expect(r).To(framework.HaveStatus(http.StatusOK), "login as %s", p.Email)
	Expect(t.Access).NotTo(BeEmpty(), "login response has no %q\n%s", c.Profile.Login.AccessField, r.Exchange)
	return t
}

// refresh sends the profile's refresh request: the current token as bearer
// (roboticks) or {refreshToken: tok} (iotistica).
func refresh(c *framework.Ctx, cl *framework.Client, tok string) (*framework.Resp, framework.Tokens) {
	GinkgoHelper()
	l := c.Profile.Login
	req := framework.Req{Method: http.MethodPost, Path: l.RefreshPath}
	switch l.RefreshStyle {
	case spec.RefreshBearerCurrent:
		req.Header = framework.Cred(spec.TransportBearer, tok)
	case spec.RefreshBodyToken:
		req.JSON = map[string]string{l.RefreshBodyIn: tok}
	default:
		Fail("jwt: profile " + string(c.Name()) + " has no refresh style")
	}
	return send(cl, l, req)
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

// tokens caches one login per principal and profile: the read-only checks
// forge from the same genuine token instead of paying for a password hash
// each time. Specs that rotate or revoke tokens log in themselves.
type tokens struct {
	mu sync.Mutex
	m  map[string]string
}

func (tc *tokens) get(c *framework.Ctx, cl *framework.Client, p spec.Principal) string {
	GinkgoHelper()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.m == nil {
		tc.m = map[string]string{}
	}
	tok, ok := tc.m[p.Email]
	if !ok {
		tok = login(c, cl, p).Access
		tc.m[p.Email] = tok
	}
	cl.AddSecret(secretsOf(tok)...)
	return tok
}

// claims decodes tok's payload and fails the spec when it is not a JWS.
func claims(tok string) map[string]any {
	GinkgoHelper()
	cl, err := forge.Claims(tok)
	Expect(err).NotTo(HaveOccurred(), "the issued access token is not a compact JWS")
	return cl
}

func header(tok string) map[string]any {
	GinkgoHelper()
	h, _, _, err := forge.Parts(tok)
	Expect(err).NotTo(HaveOccurred(), "the issued access token is not a compact JWS")
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
// it with a client for it. The instance stops when the spec ends.
func deploy(ctx context.Context, c *framework.Ctx, vars map[string]string) (*spec.Target, *framework.Client) {
	GinkgoHelper()
	t, stop, err := c.Env.Deploy(ctx, vars)
	Expect(err).NotTo(HaveOccurred(), "deploy %s with %d variables", c.Name(), len(vars))
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
