// Package jwt holds the conformance specs of the JWT area (JWT-001 ..
// JWT-019 of spec/catalogue.yaml): login, token lifetime, forged and
// tampered tokens, expiry, token confusion, refresh and refresh-token
// rotation, and the catalogue-v2 attacks (non-canonical signatures, JWE
// confusion, claim type juggling, weak HMAC keys, header injection,
// forged-token floods). The specs check the profile contract of spec.Profile.Login;
// forged tokens come from suites/framework/forge.
//
// Every negative assertion (a forged, expired or misused token gets 401)
// follows, in the same spec, a positive control on the same resource by
// the same principal (framework.Control): the genuine token gets 200, the
// unchanged claims re-signed with the target's key get 200, the genuine
// refresh token refreshes. A failed control makes the spec error, never
// failed; so does a 429 on the request a spec judges.
package jwt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/framework/forge"
)

// forgedRow is one hostile variant of a genuine token; a correct server
// answers each with 401.
type forgedRow struct {
	what string // completes "the admin's access token re-sent with ..."
	make func(tok string) (string, error)
}

// keyed is a target whose signing key the suite holds: the target itself
// when its file gives control.jwtSecret or control.jwtPrivateKey, else a
// fresh HS256 deployment with a secret of the suite's choosing.
type keyed struct {
	cl     *framework.Client
	admin  spec.Principal
	tok    string // a genuine access token of admin
	secret string // HS256
	priv   string // RS256 (PEM)
}

// sign re-signs tok's claims after edit with the target's key and masks
// the result (a validly signed token is a credential).
func (k keyed) sign(tok string, edit func(m map[string]any)) string {
	GinkgoHelper()
	out, err := forge.Resign(tok, k.secret, k.priv, edit)
	framework.ControlOK(err == nil, "re-sign the genuine token with the target's key: %v", err)
	k.cl.AddSecret(secretsOf(out)...)
	return out
}

// control is the positive control of every re-signed token: the genuine
// claims, unchanged, re-signed with the key the suite holds, get 200 on
// path, so the suite provably holds the target's key. It returns that
// response (its Date is the target's clock).
func (k keyed) control(path string) *framework.Resp {
	GinkgoHelper()
	same := k.sign(k.tok, func(map[string]any) {})
	return framework.Control(bearerGet(k.cl, path, same), "the genuine token's claims re-signed unchanged with the target's signing key", http.StatusOK)
}

func noEdit(map[string]any) {}

var _ = framework.Area("jwt", func(c *framework.Ctx) {
	l := c.Profile.Login
	if l == nil {
		return // no JWT check applies to a profile without login
	}
	var (
		cl    *framework.Client
		cache tokens
	)
	BeforeEach(func() { cl = c.Client() })

	admin := func() spec.Principal { return c.Target().Principals.Admin }
	member := func() spec.Principal { return c.Target().Principals.Member }
	protected := func() string { return c.Paths().Protected }

	// expect401 is the negative assertion of this area: the profile's 401
	// (framework.BeErrorResponse: seed-given fields, or a JSON object where
	// the body is ref-defined). A 429 cannot be judged: error.
	expect401 := func(r *framework.Resp, what string) {
		GinkgoHelper()
		notThrottled(r, what)
		Expect(r).To(c.Be401(), what)
	}
	// The 401 of a failed login: no seed shows it (seed 000's 401 body is
	// for a token that is "missing, invalid, or expired"), so its exact
	// shape is SHOULD; status and a JSON object are MUST.
	loginErr := spec.ErrorBody{Fields: c.Profile.Err401.Fields, RefDefined: true}

	// genuine returns the admin's cached access token after the positive
	// control that it gets 200 on the protected resource, so that a 401
	// for a forged variant is due to the forgery and nothing else.
	genuine := func() string {
		GinkgoHelper()
		tok := cache.get(c, cl, admin())
		framework.Control(bearerGet(cl, protected(), tok), "the admin's genuine access token on the protected resource", http.StatusOK)
		return tok
	}

	// signaturesChecked skips the spec when the target accepts the admin's
	// claims signed with a random foreign secret: it verifies no signature
	// at all (JWT-005 fails for that), so what the spec probes on top of
	// the signature cannot be told apart.
	signaturesChecked := func(m map[string]any) {
		GinkgoHelper()
		if bearerGet(cl, protected(), hs256(nil, m, []byte(randomSecret()))).Status == http.StatusOK {
			framework.SkipNotRun("the target accepts a token signed with a random foreign secret: it verifies no signature (JWT-005 fails for that), so this cannot be measured")
		}
	}

	// signingWith returns a target whose signing key the suite holds. With
	// cached, a target that gives its key lends the admin's cached token
	// (specs that only read its claims and never refresh or revoke it);
	// otherwise the spec logs in afresh.
	signingWith := func(ctx context.Context, cached bool) keyed {
		GinkgoHelper()
		if ct := c.Target().Control; ct.JWTSecret != "" || ct.JWTPrivateKey != "" {
			var tok string
			if cached {
				tok = cache.get(c, cl, admin())
			} else {
				tok = login(c, cl, admin()).Access
			}
			return keyed{cl: cl, admin: admin(), tok: tok, secret: ct.JWTSecret, priv: ct.JWTPrivateKey}
		}
		if !c.Env.CanDeploy() {
			framework.SkipNotRun("needs a key the target accepts tokens from: set control.jwtSecret (HS256) or control.jwtPrivateKey (RS256) in the target file, or use an environment the suite deploys")
		}
		secret := randomSecret()
		t, dcl := deploy(ctx, c, map[string]string{"JWT_SECRET": secret})
		tok := login(c, dcl, t.Principals.Admin).Access
		framework.ControlThat("the alg of a token issued by a deployment given JWT_SECRET (seed 003: HS256)", header(tok)["alg"], Equal("HS256"))
		return keyed{cl: dcl, admin: t.Principals.Admin, tok: tok, secret: secret}
	}
	signing := func(ctx context.Context) keyed {
		GinkgoHelper()
		return signingWith(ctx, false)
	}

	// rs256Target returns an RS256 deployment and its public key: a fresh
	// pair the suite deploys with, or (an external RS256 target)
	// control.jwtPublicKey from the target file, which attacks that need
	// only the public key (key confusion, JWE for it) can use alone.
	rs256Target := func(ctx context.Context) (t *spec.Target, dcl *framework.Client, pubPEM string, pubDER []byte) {
		GinkgoHelper()
		if c.Env.CanDeploy() {
			kp := rsaKeys()[0]
			t, dcl = deploy(ctx, c, map[string]string{"JWT_PUBLIC_KEY": kp.PubPEM, "JWT_PRIVATE_KEY": kp.PrivPEM})
			return t, dcl, kp.PubPEM, kp.PubDER
		}
		pk := c.Target().Control.JWTPublicKey
		if pk == "" {
			framework.SkipNotRun("needs an RS256 deployment: control of the deployment (the embedded or containers environment), or control.jwtPublicKey of an RS256 target in the target file")
		}
		blk, _ := pem.Decode([]byte(pk))
		framework.ControlOK(blk != nil, "control.jwtPublicKey of the target file is no PEM block")
		return c.Target(), cl, pk, blk.Bytes
	}

	// expiredBy sets exp d before now (the target's clock), and iat (and
	// nbf, where the token has one) one lifetime before that.
	expiredBy := func(now time.Time, d time.Duration) func(m map[string]any) {
		return func(m map[string]any) {
			exp := now.Add(-d).Unix()
			m["exp"] = exp
			m["iat"] = exp - int64(l.Lifetime)
			if _, ok := m["nbf"]; ok {
				m["nbf"] = exp - int64(l.Lifetime)
			}
		}
	}

	// ---------------------------------------------------------------- JWT-001
	c.It("JWT-001", loginOKText(l), func() {
		r, _ := loginResp(c, cl, admin().Email, admin().Password)
		loginAbsent(c, r)
		notThrottled(r, "the login with the right password")
		if l.RefDefined {
			// rigbox: no seed shows the login's status either.
			Expect(r).To(framework.HaveStatus(http.StatusOK, http.StatusCreated), "login with the right password")
			if r.Status != http.StatusOK {
				framework.ShouldNote("the login answers %d; the reference answers 200", r.Status)
			}
		} else {
			Expect(r).To(framework.HaveStatus(http.StatusOK), "login with the right password")
		}
		Expect(framework.IsJSONType(r.Header.Get("Content-Type"))).To(BeTrue(), "Content-Type %q, want application/json\n%s", r.Header.Get("Content-Type"), r.Exchange)
		m := r.JSONMap()
		Expect(m).NotTo(BeNil(), "login body is not a JSON object\n%s", r.Exchange)
		access, field := tokenField(m, l.AccessField)
		known := map[string]bool{l.AccessField: true, l.ExpiresField: true}
		if l.RefDefined {
			// rigbox: the seed says only that the login flow yields a JWT
			// usable as bearer token; the reference's shape is SHOULD.
			Expect(access).NotTo(BeEmpty(), "the login response carries no JWT (seed 001: \"you receive a JWT that can be used directly\")\n%s", r.Exchange)
			if field != l.AccessField {
				framework.ShouldNote("the login response carries its JWT in %q, not %q (the reference's shape, ref-defined)", field, l.AccessField)
			}
			// The field is the reference's shape (SHOULD); its value is
			// the deployment's choice (seed 001: "JWTs expire after a set
			// period"), so only whether it tells the truth is SHOULD.
			if exp, ok := num(m, l.ExpiresField); !ok {
				framework.ShouldNote("the login response has no integer %q (the reference's shape, ref-defined): %v", l.ExpiresField, m[l.ExpiresField])
			} else {
				if exp != int64(l.Lifetime) {
					framework.Info("the login announces %q = %d (the reference's lifetime is %d s; seed 001 fixes none)", l.ExpiresField, exp, l.Lifetime)
				}
				if cm, err := forge.Claims(access); err == nil {
					iat, okI := num(cm, "iat")
					texp, okE := num(cm, "exp")
					if okI && okE && texp-iat != exp {
						framework.ShouldNote("the login announces %q = %d, but the token's exp - iat is %d", l.ExpiresField, exp, texp-iat)
					}
				}
			}
		} else {
			Expect(field).To(Equal(l.AccessField), "the seed's login response carries the token in %q\n%s", l.AccessField, r.Exchange)
			if l.RefreshField != "" {
				known[l.RefreshField] = true
				rt, _ := m[l.RefreshField].(string)
				Expect(rt).NotTo(BeEmpty(), "%q must be a non-empty string (seed)\n%s", l.RefreshField, r.Exchange)
			}
			exp, ok := num(m, l.ExpiresField)
			Expect(ok).To(BeTrue(), "%q must be an integer (seed)\n%s", l.ExpiresField, r.Exchange)
			Expect(exp).To(BeEquivalentTo(l.Lifetime), "%q (seed)\n%s", l.ExpiresField, r.Exchange)
			if l.TokenType != "" {
				known["token_type"] = true
				tt, _ := m["token_type"].(string)
				// RFC 6749 §5.1: the token_type value is case insensitive.
				Expect(strings.EqualFold(tt, l.TokenType)).To(BeTrue(), "token_type %v, want %q (seed)\n%s", m["token_type"], l.TokenType, r.Exchange)
				if tt != l.TokenType {
					framework.ShouldNote("token_type is %q; the seed writes %q", tt, l.TokenType)
				}
			}
		}
		var extra []string
		for _, k := range sortedKeys(m) {
			if !known[k] && k != field {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			framework.Info("the login response carries fields beyond the profile's (allowed): %s", strings.Join(extra, ", "))
		}
		Expect(forge.IsJWS(access)).To(BeTrue(), "%q must be a JWT (compact JWS)\n%s", field, r.Exchange)
		use := bearerGet(cl, protected(), access)
		notThrottled(use, "the issued token on the protected resource")
		Expect(use).To(framework.HaveStatus(http.StatusOK), "the issued token must authenticate on the protected resource")
	})

	c.It("JWT-001", "answers a login with a wrong password with 401 and a JSON error body, while the right password logs the same user in, because a wrong password proves nothing", func() {
		login(c, cl, admin())
		r, _ := loginResp(c, cl, admin().Email, admin().Password+"-wrong")
		notThrottled(r, "the login with a wrong password")
		Expect(r).To(framework.BeErrorResponse(http.StatusUnauthorized, loginErr))
	})

	c.It("JWT-001", "answers a login for an unknown user with the same 401 status, Content-Type and body as a wrong password for an existing user, because a different answer tells an attacker which accounts exist", func() {
		login(c, cl, admin())
		// Two wrong-password answers: fields that differ between them
		// (request IDs, timestamps) are volatile and not compared.
		bad1, _ := loginResp(c, cl, admin().Email, admin().Password+"-wrong")
		notThrottled(bad1, "the login with a wrong password")
		bad2, _ := loginResp(c, cl, admin().Email, admin().Password+"-wrong2")
		notThrottled(bad2, "the login with a wrong password")
		unknown, _ := loginResp(c, cl, "no-such-user-"+strings.ToLower(spec.RandomBase62(10))+"@example.com", admin().Password)
		notThrottled(unknown, "the login for an unknown user")
		Expect(unknown).To(framework.BeErrorResponse(http.StatusUnauthorized, loginErr), "unknown user")
		Expect(unknown.Status).To(Equal(bad1.Status), "status differs\nwrong password:\n%s\nunknown user:\n%s", bad1.Exchange, unknown.Exchange)
		Expect(unknown.Header.Get("Content-Type")).To(Equal(bad1.Header.Get("Content-Type")), "Content-Type differs\nwrong password:\n%s\nunknown user:\n%s", bad1.Exchange, unknown.Exchange)
		Expect(bodyDiff(cl, bad1, bad2, unknown)).To(BeEmpty(), "body differs from the wrong-password body\nwrong password:\n%s\nunknown user:\n%s", bad1.Exchange, unknown.Exchange)
	})

	// rotateOnce logs the member in and refreshes once: the control that
	// the login's refresh token works, and that the target rotates it
	// (otherwise reuse of a rotated-out token is not applicable). It
	// returns the login's tokens and the refreshed ones.
	rotateOnce := func() (t0, t1 framework.Tokens) {
		GinkgoHelper()
		t0 = login(c, cl, member())
		framework.ControlOK(t0.Refresh != "", "the login response has no refresh token (%q)", l.RefreshField)
		r1, t1 := refresh(c, cl, t0.Refresh)
		framework.Control(r1, "the first refresh with the login's refresh token", http.StatusOK)
		framework.ControlOK(t1.Refresh != "", "the first refresh returned no refresh token\n%s", r1.Exchange)
		if t1.Refresh == t0.Refresh {
			framework.SkipNotApplicable("the target does not rotate refresh tokens (the refresh returned the same one), so a rotated-out token cannot be reused")
		}
		return t0, t1
	}

	// ---------------------------------------------------------------- JWT-002
	if c.Profile.Can(spec.CapLoginDocumented) {
		c.It("JWT-002", fmt.Sprintf("issues access tokens that expire %d s after issue (exp - iat, and exp - the login response's Date) and announces that lifetime in %q, because the seed promises tokens that expire after one hour", l.Lifetime, l.ExpiresField), func() {
			t := login(c, cl, admin())
			m := claims(t.Access)
			exp, ok := num(m, "exp")
			Expect(ok).To(BeTrue(), "the access token has no integer exp claim (RFC 7519 §4.1.4), so it does not expire after %d s: %v", l.Lifetime, sortedKeys(m))
			if _, has := m["iat"]; has {
				iat, ok := num(m, "iat")
				Expect(ok).To(BeTrue(), "the iat claim is not an integer NumericDate (RFC 7519 §4.1.6): %v", m["iat"])
				// ±1 s: iat and exp may come from two clock reads.
				Expect(exp-iat).To(BeNumerically("~", l.Lifetime, 1), "exp - iat of the issued token")
			}
			issued, tol := serverTime(t.Resp), int64(5)
			if t.Resp.Header.Get("Date") == "" {
				tol = 120 // no Date: our clock against the target's
			}
			Expect(exp-issued.Unix()).To(BeNumerically("~", l.Lifetime, tol), "exp minus the time of issue (the login response's Date %q)", t.Resp.Header.Get("Date"))
			Expect(t.ExpiresIn).To(BeEquivalentTo(l.Lifetime), "%q of the login response", l.ExpiresField)
		})
	}

	// ---------------------------------------------------------------- JWT-003
	for _, row := range []forgedRow{
		{what: `alg "none" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "none") }},
		{what: `alg "None" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "None") }},
		{what: `alg "NONE" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "NONE") }},
		{what: `alg "none" and its original signature kept`, make: func(t string) (string, error) {
			n, err := forge.AlgNone(t, "none")
			return n + t[strings.LastIndex(t, ".")+1:], err
		}},
		{what: "its own alg header and an empty signature", make: func(t string) (string, error) { return forge.EmptySignature(t), nil }},
	} {
		c.It("JWT-003", fmt.Sprintf("answers 401 with the profile's body to the admin's access token re-sent with %s, while the genuine token gets 200, because an unsigned token proves nothing (RFC 8725 §3.1)", row.what), func() {
			forged, err := row.make(genuine())
			Expect(err).NotTo(HaveOccurred())
			expect401(bearerGet(cl, protected(), forged), "token with "+row.what)
		})
	}

	// ---------------------------------------------------------------- JWT-004
	if c.Profile.Can(spec.CapRS256) {
		c.It("JWT-004", "answers 401 on an RS256 deployment to an HS256 token signed with the deployment's public key as HMAC secret, while the genuine RS256 token gets 200, because the verifier must not let the token choose the algorithm (RFC 8725 §2.1)", func(ctx SpecContext) {
			t, dcl, pubPEM, pubDER := rs256Target(ctx)
			tok := login(c, dcl, t.Principals.Admin).Access
			framework.ControlThat("the alg of a token issued by a deployment given JWT_PUBLIC_KEY/JWT_PRIVATE_KEY (seed 003: RS256)", header(tok)["alg"], Equal("RS256"))
			framework.Control(bearerGet(dcl, protected(), tok), "the admin's genuine RS256 token on the protected resource", http.StatusOK)
			m := claims(tok)
			for _, v := range []struct {
				name   string
				secret []byte
			}{
				{"the PEM exactly as deployed", []byte(pubPEM)},
				{"the PEM without its final newline", []byte(strings.TrimRight(pubPEM, "\n"))},
				{"the DER bytes of the key", pubDER},
			} {
				expect401(bearerGet(dcl, protected(), hs256(nil, m, v.secret)), "HS256 token signed with "+v.name)
			}
			forged, err := forge.KeyConfusion(m, pubPEM)
			Expect(err).NotTo(HaveOccurred())
			expect401(bearerGet(dcl, protected(), forged), "forge.KeyConfusion")
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-005
	for _, row := range []forgedRow{
		{what: "its signature stripped (two segments)", make: func(t string) (string, error) { return forge.StripSignature(t), nil }},
		{what: "its signature truncated by four characters", make: func(t string) (string, error) { return forge.TruncateSignature(t), nil }},
		{what: "the first character of its signature changed", make: func(t string) (string, error) {
			i := strings.LastIndex(t, ".") + 1
			ch := byte('A')
			if t[i] == 'A' {
				ch = 'B'
			}
			return t[:i] + string(ch) + t[i+1:], nil
		}},
		{what: "its payload altered (exp one day later) under the original signature", make: func(t string) (string, error) {
			m, err := forge.Claims(t)
			if err != nil {
				return "", err
			}
			exp, _ := num(m, "exp")
			return forge.AlterPayload(t, "exp", exp+86400)
		}},
		{what: "its payload altered (sub of another user) under the original signature", make: func(t string) (string, error) {
			m, err := forge.Claims(t)
			if err != nil {
				return "", err
			}
			return forge.AlterPayload(t, "sub", fmt.Sprint(m["sub"])+"-other")
		}},
		{what: "an extra claim added to its payload (role admin) under the original signature", make: func(t string) (string, error) {
			return forge.AlterPayload(t, "role", "admin")
		}},
	} {
		c.It("JWT-005", fmt.Sprintf("answers 401 with the profile's body to the admin's access token re-sent with %s, while the genuine token gets 200, because only an intact signature over the exact header and payload authenticates (RFC 7515)", row.what), func() {
			forged, err := row.make(genuine())
			Expect(err).NotTo(HaveOccurred())
			expect401(bearerGet(cl, protected(), forged), "token with "+row.what)
		})
	}
	c.It("JWT-005", "answers 401 to the member's token header and payload joined to the admin's token signature, while both genuine tokens get 200, because a signature only vouches for the token it was computed over (RFC 7515)", func() {
		adm := genuine()
		mem := cache.get(c, cl, member())
		framework.Control(bearerGet(cl, protected(), mem), "the member's genuine access token on the protected resource", http.StatusOK)
		spliced := mem[:strings.LastIndex(mem, ".")] + adm[strings.LastIndex(adm, "."):]
		expect401(bearerGet(cl, protected(), spliced), "member's header.payload with the admin's signature")
	})

	// ---------------------------------------------------------------- JWT-006
	for _, row := range []struct {
		ago  time.Duration
		what string
		why  string
	}{
		{61 * time.Second, "61 s", "RFC 7519 §4.1.4 allows only a small leeway for clock skew, and SPEC.md bounds it at 60 s"},
		{time.Hour, "1 h", "it is expired beyond any leeway (RFC 7519 §4.1.4)"},
	} {
		c.It("JWT-006", fmt.Sprintf("answers 401 to a token validly signed with the target's own signing key whose exp lies %s in the past by the target's clock, while the same claims unexpired get 200, because %s", row.what, row.why), func(ctx SpecContext) {
			k := signing(ctx)
			ok := k.control(protected())
			forged := k.sign(k.tok, expiredBy(serverTime(ok), row.ago))
			expect401(bearerGet(k.cl, protected(), forged), "token expired "+row.what+" ago")
		}, SpecTimeout(60*time.Second))
	}
	c.It("JWT-006", "reports the clock-skew leeway it observes on exp (INFO: any leeway from 0 s to 60 s is conformant; RFC 7519 §4.1.4 says an implementation MAY allow some)", func(ctx SpecContext) {
		k := signing(ctx)
		last := k.control(protected())
		accepted, refused := -1, -1
		var odd, nonMonotonic []string
		for _, d := range []int{1, 2, 5, 10, 15, 20, 25, 30, 40, 50, 60} {
			r := bearerGet(k.cl, protected(), k.sign(k.tok, expiredBy(serverTime(last), time.Duration(d)*time.Second)))
			switch r.Status {
			case http.StatusOK:
				if refused >= 0 {
					nonMonotonic = append(nonMonotonic, fmt.Sprintf("%d s", d))
				}
				accepted = d
			case http.StatusUnauthorized:
				if refused < 0 {
					refused = d
				}
			default:
				odd = append(odd, fmt.Sprintf("%d s past exp: %d", d, r.Status))
			}
			last = r
		}
		switch {
		case accepted < 0 && refused > 0:
			framework.Info("observed JWT leeway: under %d s (a token %d s past exp is refused; no leeway is conformant)", refused+1, refused)
		case refused < 0 && accepted > 0:
			framework.Info("observed JWT leeway: at least %d s (every probe up to %d s past exp accepted)", accepted, accepted)
		case accepted > 0 && refused > 0:
			framework.Info("observed JWT leeway: between %d and %d s (accepted %d s past exp, refused %d s past exp)", accepted, refused+1, accepted, refused)
		default:
			framework.Info("observed JWT leeway: not measured")
		}
		if len(nonMonotonic) > 0 {
			framework.Info("the leeway probes were not monotonic: accepted again %s past exp after an earlier refusal", strings.Join(nonMonotonic, ", "))
		}
		if len(odd) > 0 {
			framework.Info("leeway probes answered neither 200 nor 401: %s", strings.Join(odd, "; "))
		}
	}, SpecTimeout(60*time.Second))

	// ---------------------------------------------------------------- JWT-007
	c.It("JWT-007", "should answer 401 to a token validly signed with the target's own signing key but without exp, while the same claims with exp get 200, because a token that never expires cannot be contained once leaked (RFC 8725)", func(ctx SpecContext) {
		k := signing(ctx)
		k.control(protected())
		forged := k.sign(k.tok, func(m map[string]any) { delete(m, "exp") })
		expect401(bearerGet(k.cl, protected(), forged), "token without exp")
	}, SpecTimeout(60*time.Second))
	c.It("JWT-007", "should answer 401 to a token validly signed with the target's own signing key whose nbf lies 5 minutes in the future, while the same claims without it get 200, because it is not valid yet (RFC 7519 §4.1.5)", func(ctx SpecContext) {
		k := signing(ctx)
		ok := k.control(protected())
		forged := k.sign(k.tok, func(m map[string]any) { m["nbf"] = serverTime(ok).Add(5 * time.Minute).Unix() })
		expect401(bearerGet(k.cl, protected(), forged), "token with nbf 5 minutes ahead")
	}, SpecTimeout(60*time.Second))

	// ---------------------------------------------------------------- JWT-008
	c.It("JWT-008", "should answer 401, never 5xx, to the admin's claims signed with a foreign HMAC secret under a kid naming some other key, while the genuine token gets 200, because a kid must only select among the server's own keys (RFC 8725 §3.10)", func() {
		m := claims(genuine())
		signaturesChecked(m)
		for _, kid := range []string{"foreign-key-2026", "../../../../../../dev/null", "' OR '1'='1", "0"} {
			expect401(bearerGet(cl, protected(), hs256(map[string]any{"kid": kid}, m, []byte(randomSecret()))), fmt.Sprintf("kid %q, foreign secret", kid))
		}
		// /dev/null as key file: an empty secret.
		expect401(bearerGet(cl, protected(), hs256(map[string]any{"kid": "../../../../../../dev/null"}, m, nil)), "kid pointing at /dev/null, empty secret")
	})
	for _, hdr := range []string{"jku", "x5u"} {
		c.It("JWT-008", fmt.Sprintf("should answer 401, never 5xx, to the admin's claims signed with a foreign RSA key whose %s header points at a key set the suite serves on 127.0.0.1, and never fetch that URL, while the genuine token gets 200, because keys named by the token are the attacker's keys (RFC 8725 §3.10)", hdr), func() {
			m := claims(genuine())
			signaturesChecked(m)
			foreign := rsaKeys()[1]
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if strings.HasSuffix(r.URL.Path, ".pem") {
					_, _ = w.Write([]byte(foreign.PubPEM))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(jwks(foreign, "attacker-1"))
			}))
			DeferCleanup(srv.Close)
			url := srv.URL + "/.well-known/jwks.json"
			if hdr == "x5u" {
				url = srv.URL + "/cert.pem"
			}
			forged, err := signRS256(foreign, map[string]any{hdr: url, "kid": "attacker-1"}, m)
			Expect(err).NotTo(HaveOccurred())
			expect401(bearerGet(cl, protected(), forged), "token whose "+hdr+" names the attacker's key")
			Consistently(hits.Load).WithTimeout(300*time.Millisecond).WithPolling(50*time.Millisecond).Should(BeZero(), "the server fetched the %s URL the token named", hdr)
		})
	}
	c.It("JWT-008", "should answer 401, never 5xx, to the admin's claims signed with a foreign RSA key that is embedded in the token's jwk header, while the genuine token gets 200, because a token cannot vouch for itself (RFC 8725 §3.10)", func() {
		m := claims(genuine())
		signaturesChecked(m)
		foreign := rsaKeys()[1]
		forged, err := signRS256(foreign, map[string]any{"jwk": jwk(foreign, "attacker-1"), "kid": "attacker-1"}, m)
		Expect(err).NotTo(HaveOccurred())
		expect401(bearerGet(cl, protected(), forged), "token with an embedded jwk")
	})

	// ---------------------------------------------------------------- JWT-009
	if l.RefreshField != "" {
		c.It("JWT-009", "answers 401 to a refresh token used as a bearer access token, while the access token of the same login gets 200, because a refresh token is only for the refresh endpoint (RFC 8725 §3.11-12)", func() {
			t := login(c, cl, admin())
			framework.ControlOK(t.Refresh != "", "the login response has no refresh token (%q)", l.RefreshField)
			framework.Control(bearerGet(cl, protected(), t.Access), "the access token of the same login on the protected resource", http.StatusOK)
			expect401(bearerGet(cl, protected(), t.Refresh), "refresh token as bearer")
		})
		c.It("JWT-009", "answers 401 to an access token sent to the refresh endpoint as refreshToken, while the refresh token of the same login refreshes, because an access token must not mint new token pairs (RFC 8725 §3.11-12)", func() {
			t := login(c, cl, admin())
			framework.ControlOK(t.Refresh != "", "the login response has no refresh token (%q)", l.RefreshField)
			r, _ := refresh(c, cl, t.Refresh)
			framework.Control(r, "the refresh with the login's own refresh token", http.StatusOK)
			r, _ = refresh(c, cl, t.Access)
			expect401(r, "access token as refreshToken")
		})
		c.It("JWT-009", "answers 401 to the deployment's license JWT used as a bearer access token, while the admin's genuine token gets 200, because a license is signed for another purpose (RFC 8725 §3.11-12)", func() {
			lic := c.Target().Control.LicenseToken
			if lic == "" {
				framework.SkipNotRun("the target file does not name its license JWT (control.licenseToken)")
			}
			cl.AddSecret(secretsOf(lic)...)
			genuine()
			expect401(bearerGet(cl, protected(), lic), "license JWT as bearer")
		})
	}
	// The current access token is what refreshes (bearer-current): an API
	// key must not be accepted in its place.
	refreshesCurrent := l.RefreshPath != "" && l.RefreshStyle == spec.RefreshBearerCurrent
	if refreshesCurrent && c.Profile.UserKeyPrefix != "" {
		c.It("JWT-009", "answers 401 at the refresh endpoint to the user's API key as the current token, while the user's access token refreshes and the key works on the protected resource, because only an access token may be refreshed and an API key must not mint JWTs (RFC 8725 §3.11-12)", func() {
			key := admin().APIKey
			if key == "" {
				framework.SkipNotRun("the target file gives the admin no API key (principals.admin.apiKey)")
			}
			t := login(c, cl, admin())
			r, _ := refresh(c, cl, t.Access)
			framework.Control(r, "the refresh with the user's own access token", http.StatusOK)
			framework.Control(cl.Get(protected(), cl.UserCred(key)), "the user's API key on the protected resource", http.StatusOK)
			r, _ = refresh(c, cl, key)
			expect401(r, "API key as the current token at the refresh endpoint")
		})
	}

	// ---------------------------------------------------------------- JWT-010
	if l.RefreshPath != "" {
		c.It("JWT-010", fmt.Sprintf("answers a refresh (%s) with 200 and a new access token that works on the protected resource, because the seed documents refresh as the way to continue a session", l.RefreshStyle), func() {
			t := login(c, cl, member())
			cred := t.Access
			if l.RefreshStyle == spec.RefreshBodyToken {
				cred = t.Refresh
				framework.ControlOK(cred != "", "the login response has no refresh token (%q)", l.RefreshField)
			}
			r, _ := refresh(c, cl, cred)
			notThrottled(r, "the refresh")
			Expect(r).To(framework.HaveStatus(http.StatusOK, http.StatusCreated), "the refresh")
			m := r.JSONMap()
			Expect(m).NotTo(BeNil(), "the refresh response is not a JSON object\n%s", r.Exchange)
			// The seeds show no refresh response: the field names of the
			// login response are SHOULD, a new token anywhere is MUST.
			access, field := tokenField(m, l.AccessField)
			Expect(access).NotTo(BeEmpty(), "the refresh response carries no new access token (JWT)\n%s", r.Exchange)
			if field != l.AccessField {
				framework.ShouldNote("the refresh response carries the access token in %q; the login response's field is %q", field, l.AccessField)
			}
			if l.RefreshStyle == spec.RefreshBodyToken {
				rt, rfield := tokenField(m, l.RefreshField, access)
				Expect(rt).NotTo(BeEmpty(), "seed 003: a refresh yields a new pair; the response has no refresh token\n%s", r.Exchange)
				if rfield != l.RefreshField {
					framework.ShouldNote("the refresh response carries the refresh token in %q; the login response's field is %q", rfield, l.RefreshField)
				}
			}
			use := bearerGet(cl, protected(), access)
			notThrottled(use, "the refreshed access token on the protected resource")
			Expect(use).To(framework.HaveStatus(http.StatusOK), "the refreshed access token")
		})
	}
	if refreshesCurrent {
		c.It("JWT-010", "answers 401 to a refresh with a validly signed access token expired 120 s ago, while the same user's unexpired token refreshes, because the seed requires refreshing before expiry and an expired token must not extend a session", func(ctx SpecContext) {
			k := signing(ctx)
			r, _ := refresh(c, k.cl, k.sign(k.tok, noEdit))
			framework.Control(r, "the refresh with the user's unexpired token re-signed unchanged with the target's signing key", http.StatusOK)
			// A token of another login, so that nothing the refresh above
			// retired (its jti) can explain the 401.
			other := login(c, k.cl, k.admin).Access
			expired := k.sign(other, expiredBy(serverTime(r), 120*time.Second))
			r, _ = refresh(c, k.cl, expired)
			expect401(r, "refresh with a token expired 120 s ago")
		}, SpecTimeout(60*time.Second))
	}

	if c.Profile.Can(spec.CapRefreshRotation) {
		// ------------------------------------------------------------ JWT-011
		c.It("JWT-011", "should answer 401 when a rotated-out refresh token is used again and then also refuse the newest refresh token of that family, because reuse means the token leaked (RFC 9700 §4.14.2)", func() {
			t0, t1 := rotateOnce()
			reuse, _ := refresh(c, cl, t0.Refresh)
			expect401(reuse, "reuse of the rotated-out refresh token")
			newest, _ := refresh(c, cl, t1.Refresh)
			expect401(newest, "the newest refresh token of the family after reuse was detected")
		})

		// ------------------------------------------------------------ JWT-012
		c.It("JWT-012", "should let at most one of 50 refreshes racing with one refresh token succeed, because a rotated refresh token is single-use (RFC 9700 §4.14.2)", func(ctx SpecContext) {
			const n = 50
			t0 := login(c, cl, member())
			framework.ControlOK(t0.Refresh != "", "the login response has no refresh token (%q)", l.RefreshField)
			start := make(chan struct{})
			var wg sync.WaitGroup
			statuses := make([]int, n)
			errs := make([]error, n)
			req := refreshReq(l, t0.Refresh)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					r, err := cl.Try(ctx, req)
					if err != nil {
						errs[i] = err
						return
					}
					statuses[i] = r.Status
				}(i)
			}
			close(start)
			wg.Wait()
			ok, other := 0, map[int]int{}
			for i, s := range statuses {
				if errs[i] != nil {
					framework.Inconclusive("a racing refresh got no answer: %v", errs[i])
				}
				if s >= 200 && s < 300 {
					ok++
				} else {
					other[s]++
				}
			}
			AddReportEntry("statuses", fmt.Sprintf("2xx: %d, others: %v", ok, other))
			framework.ControlOK(ok > 0, "none of %d racing refreshes with a fresh refresh token succeeded (statuses: %v), so single use cannot be judged", n, other)
			Expect(ok).To(BeNumerically("<=", 1), "%d of %d parallel refreshes with one refresh token succeeded (others: %v)", ok, n, other)
			for s := range other {
				Expect(s).To(BeNumerically("<", 500), "a racing refresh got %d", s)
			}
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-013
	c.It("JWT-013", fmt.Sprintf("should answer 401 to the admin's claims signed with HS256 under each of %d common weak secrets, while the genuine token gets 200, because a guessable secret lets anyone mint tokens (RFC 8725 §3.5)", len(forge.WeakSecrets)), func() {
		tok := genuine()
		if alg := header(tok)["alg"]; alg != "HS256" {
			framework.SkipNotApplicable("the target signs with %v, not HS256", alg)
		}
		m := claims(tok)
		signaturesChecked(m)
		for _, s := range forge.WeakSecrets {
			forged, err := forge.SignHS256(m, []byte(s))
			Expect(err).NotTo(HaveOccurred())
			expect401(bearerGet(cl, protected(), forged), fmt.Sprintf("HS256 signed with the weak secret %q", s))
		}
	})

	c.It("JWT-013", fmt.Sprintf("should not sign its tokens with a guessable HS256 secret: the genuine token's signature, tried offline against the empty secret and the %d candidates of the suite's weak-secret corpus, matches none, because a guessable secret lets anyone mint tokens (RFC 8725 §3.5)", len(forge.WeakSecretCorpus())), func() {
		tok := genuine()
		if alg := header(tok)["alg"]; alg != "HS256" {
			framework.SkipNotApplicable("the target signs with %v, not HS256", alg)
		}
		// Offline: nothing is sent. The matching candidate is the target's
		// signing secret, so only its position and length are reported.
		cands := append([]string{""}, forge.WeakSecretCorpus()...)
		i := forge.CrackHS256(tok, cands)
		Expect(i).To(Equal(-1), "the target's HS256 signing secret is entry %d of the suite's weak-secret corpus (%d bytes): anyone can mint its tokens", i, len(cands[max(i, 0)]))
	})

	// ---------------------------------------------------------------- JWT-014
	c.It("JWT-014", "should answer 401 to the admin's access token with the spare low bits of its signature's last base64url character set (every non-canonical variant), while the genuine token gets 200, because base64url has one encoding per signature and a lenient decoder makes one token many strings (RFC 7515 §2, §3.2)", func() {
		tok := genuine()
		signaturesChecked(claims(tok))
		vs := forge.NonCanonicalSignatures(tok)
		if len(vs) == 0 {
			framework.SkipNotApplicable("the signature of the target's token has no spare bits (its length is a multiple of 4 characters): no non-canonical variant exists")
		}
		cl.AddSecret(secretsOf(vs...)...) // each variant is the credential to a lenient target
		for i, v := range vs {
			expect401(bearerGet(cl, protected(), v), fmt.Sprintf("non-canonical variant %d of %d of the genuine signature", i+1, len(vs)))
		}
	})
	if c.Profile.Can(spec.CapRefreshRotation) {
		c.It("JWT-014", "should answer 401 to a non-canonical copy (spare bits set) of a rotated-out refresh token, while the genuine refresh token refreshed, so that a second string for the same token cannot escape reuse detection (RFC 7515 §2, RFC 9700 §4.14.2)", func() {
			t0, t1 := rotateOnce()
			vs := forge.NonCanonicalSignatures(t0.Refresh)
			if len(vs) == 0 {
				framework.SkipNotApplicable("the signature of the target's refresh token has no spare bits: no non-canonical variant exists")
			}
			cl.AddSecret(secretsOf(vs...)...)
			r, _ := refresh(c, cl, vs[0])
			expect401(r, "a non-canonical copy of the rotated-out refresh token")
			newest, _ := refresh(c, cl, t1.Refresh)
			if newest.Status == http.StatusOK {
				framework.Info("the copy was refused without revoking the family: the newest refresh token still refreshes")
			} else {
				framework.Info("after the copy the newest refresh token of the family gets %d (the copy counted as reuse)", newest.Status)
			}
		})
	}

	// ---------------------------------------------------------------- JWT-015
	// jwes are the key-less JWE rows: a server can decrypt neither, and
	// must refuse both like any token it cannot verify.
	jwes := func(inner string) map[string]string {
		GinkgoHelper()
		rnd := func(n int) string { return randomSecret()[:n] }
		opaque := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}`)) + "." + rnd(42) + "." + rnd(16) + "." + rnd(40) + "." + rnd(22)
		dir, err := forge.OpaqueJWE(inner)
		Expect(err).NotTo(HaveOccurred())
		return map[string]string{"a 5-segment compact JWE (RSA-OAEP-256, A256GCM) of random segments": opaque, `a "dir" JWE around an alg none JWT of the same claims, under a key the target cannot know`: dir}
	}
	c.It("JWT-015", "answers 401, never 5xx, to 5-segment compact JWEs (random segments; a dir JWE around an alg none copy of the admin's token) as bearer token, while the genuine token gets 200, because an encrypted token is not a signed one and the unsigned JWT inside proves nothing (RFC 8725 §3.1, RFC 7516 §9)", func() {
		tok := genuine()
		none, err := forge.AlgNone(tok, "none")
		Expect(err).NotTo(HaveOccurred())
		for what, j := range jwes(none) {
			expect401(bearerGet(cl, protected(), j), what+" as bearer token")
		}
	})
	if l.RefreshPath != "" {
		c.It("JWT-015", "answers 401, never 5xx, to 5-segment compact JWEs (random segments; a dir JWE around an alg none copy of the user's token) at the refresh endpoint, while the user's own token refreshes, because only a token the target signed may mint new tokens (RFC 8725 §3.1, RFC 7516 §9)", func() {
			t := login(c, cl, admin())
			cred := t.Access
			if l.RefreshStyle == spec.RefreshBodyToken {
				cred = t.Refresh
				framework.ControlOK(cred != "", "the login response has no refresh token (%q)", l.RefreshField)
			}
			none, err := forge.AlgNone(cred, "none")
			Expect(err).NotTo(HaveOccurred())
			r, _ := refresh(c, cl, cred)
			framework.Control(r, "the refresh with the login's own token", http.StatusOK, http.StatusCreated)
			for what, j := range jwes(none) {
				r, _ := refresh(c, cl, j)
				expect401(r, what+" as the token to refresh")
			}
		})
	}
	if c.Profile.Can(spec.CapRS256) {
		c.It("JWT-015", "answers 401 on an RS256 deployment to a JWE encrypted for the deployment's own public key (RSA-OAEP-256, A256GCM) around an alg none JWT of the admin's claims, as bearer and as refresh token, while the genuine RS256 token gets 200 and its refresh token refreshes, because anyone can encrypt for a public key (sign-encrypt confusion, RFC 8725 §3.1)", func(ctx SpecContext) {
			t, dcl, pubPEM, _ := rs256Target(ctx)
			pub, err := forge.PublicKey(pubPEM)
			framework.ControlOK(err == nil, "the deployment's public key is no RSA key: %v", err)
			tk := login(c, dcl, t.Principals.Admin)
			framework.ControlThat("the alg of a token issued by a deployment given JWT_PUBLIC_KEY/JWT_PRIVATE_KEY (seed 003: RS256)", header(tk.Access)["alg"], Equal("RS256"))
			framework.Control(bearerGet(dcl, protected(), tk.Access), "the admin's genuine RS256 token on the protected resource", http.StatusOK)
			seal := func(tok string) string {
				GinkgoHelper()
				none, err := forge.AlgNone(tok, "none")
				Expect(err).NotTo(HaveOccurred())
				j, err := forge.JWE(pub, none)
				Expect(err).NotTo(HaveOccurred())
				dcl.AddSecret(j) // a credential to a target that trusts it
				return j
			}
			expect401(bearerGet(dcl, protected(), seal(tk.Access)), "a JWE for the deployment's public key around an alg none copy of the admin's access token, as bearer token")
			if l.RefreshPath == "" {
				return
			}
			cred := tk.Access
			if l.RefreshStyle == spec.RefreshBodyToken {
				cred = tk.Refresh
				framework.ControlOK(cred != "", "the login response has no refresh token (%q)", l.RefreshField)
			}
			r, t1 := refresh(c, dcl, cred)
			framework.Control(r, "the refresh with the login's own token", http.StatusOK, http.StatusCreated)
			next := t1.Access
			if l.RefreshStyle == spec.RefreshBodyToken {
				next = t1.Refresh
			}
			framework.ControlOK(next != "", "the refresh returned no new token\n%s", r.Exchange)
			r, _ = refresh(c, dcl, seal(next))
			expect401(r, "a JWE for the deployment's public key around an alg none copy of the newest token, as the token to refresh")
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-016
	c.It("JWT-016", "answers 401, never 5xx, to tokens validly signed with the target's own key whose claims would admit an expired or unbound token (exp as a past time in a string, exp null, exp -1, exp a past float, exp twice with the last one past, sub as an object), should answer 401 to the other juggled types (exp/nbf/iat as strings or 1e20, null nbf/iat, sub a number, typ missing) and may accept the valid oddities (float exp ahead, nbf or iat -1), while the same claims unchanged get 200, because the current time must be before the exp listed and sub names one principal (RFC 7519 §4, §4.1.2, §4.1.4)", func(ctx SpecContext) {
		k := signingWith(ctx, true)
		ok := k.control(protected())
		now := serverTime(ok).Unix()
		h, m, _, err := forge.Parts(k.tok)
		framework.ControlOK(err == nil, "the issued access token must be a compact JWS (JWT-001 judges its form): %v", err)
		const (
			mustReject = iota
			shouldReject
			either
		)
		n := func(d int64) string { return fmt.Sprint(now + d) }
		type row struct {
			what  string
			level int
			claim string // set to raw (a JSON literal); "" keeps the claims
			raw   string
			dup   string // appended as a duplicate "exp" (the lexically last)
			noTyp bool
		}
		rows := []row{
			{what: "exp as a string of a time 1 h past", level: mustReject, claim: "exp", raw: `"` + n(-3600) + `"`},
			{what: "exp null", level: mustReject, claim: "exp", raw: `null`},
			{what: "exp -1", level: mustReject, claim: "exp", raw: `-1`},
			{what: "exp a float 1 h past", level: mustReject, claim: "exp", raw: n(-3600) + `.5`},
			{what: "exp twice, the lexically last 1 h past", level: mustReject, claim: "exp", raw: n(3600), dup: n(-3600)},
			{what: "sub as an object naming the same user", level: mustReject, claim: "sub", raw: fmt.Sprintf(`{"id":%q}`, fmt.Sprint(m["sub"]))},
			{what: "exp as a string of a time 1 h ahead", level: shouldReject, claim: "exp", raw: `"` + n(3600) + `"`},
			{what: "exp 1e20", level: shouldReject, claim: "exp", raw: `1e20`},
			{what: "nbf as a string of a time 5 min ahead", level: shouldReject, claim: "nbf", raw: `"` + n(300) + `"`},
			{what: "nbf a float 5 min ahead", level: shouldReject, claim: "nbf", raw: n(300) + `.5`},
			{what: "nbf 1e20", level: shouldReject, claim: "nbf", raw: `1e20`},
			{what: "nbf null", level: shouldReject, claim: "nbf", raw: `null`},
			{what: "iat as a string", level: shouldReject, claim: "iat", raw: `"` + n(0) + `"`},
			{what: "iat null", level: shouldReject, claim: "iat", raw: `null`},
			{what: "iat 1e20", level: shouldReject, claim: "iat", raw: `1e20`},
			{what: "sub as a number", level: shouldReject, claim: "sub", raw: `12345`},
			{what: "no typ header", level: shouldReject, noTyp: true},
			{what: "exp a float 1 h ahead (a valid NumericDate)", level: either, claim: "exp", raw: n(3600) + `.5`},
			{what: "exp twice, the lexically last 1 h ahead (RFC 7519 §4 allows the last to win)", level: either, claim: "exp", raw: n(-3600), dup: n(3600)},
			{what: "nbf -1 (valid since 1969)", level: either, claim: "nbf", raw: `-1`},
			{what: "iat -1", level: either, claim: "iat", raw: `-1`},
		}
		var odd []string
		for _, rw := range rows {
			pm := map[string]any{}
			for key, v := range m {
				pm[key] = v
			}
			const slot = "\x00authconform-raw\x00"
			if rw.claim != "" {
				pm[rw.claim] = slot
			}
			pb, err := json.Marshal(pm)
			Expect(err).NotTo(HaveOccurred())
			payload := strings.Replace(string(pb), `"\u0000authconform-raw\u0000"`, rw.raw, 1)
			if rw.dup != "" {
				payload = payload[:len(payload)-1] + `,"exp":` + rw.dup + `}`
			}
			hm := map[string]any{}
			for key, v := range h {
				hm[key] = v
			}
			if rw.noTyp {
				delete(hm, "typ")
			}
			hb, _ := json.Marshal(hm)
			tok, err := forge.SignRaw(hb, []byte(payload), k.secret, k.priv)
			framework.ControlOK(err == nil, "sign with the target's key: %v", err)
			k.cl.AddSecret(secretsOf(tok)...)
			r := bearerGet(k.cl, protected(), tok)
			notThrottled(r, "token with "+rw.what)
			Expect(r.Status).To(BeNumerically("<", 500), "token with %s: the target failed (never 5xx)\n%s", rw.what, r.Exchange)
			switch {
			case rw.level == mustReject:
				expect401(r, "token with "+rw.what)
			case rw.level == shouldReject && r.Status != http.StatusUnauthorized:
				framework.ShouldNote("a token validly signed with the target's key but with %s got %d, not 401", rw.what, r.Status)
			case rw.level == either && r.Status != http.StatusOK && r.Status != http.StatusUnauthorized:
				odd = append(odd, fmt.Sprintf("%s: %d", rw.what, r.Status))
			case rw.level == either:
				framework.Info("a token with %s gets %d (either is conformant)", rw.what, r.Status)
			}
		}
		if len(odd) > 0 {
			framework.Info("answered neither 200 nor 401: %s", strings.Join(odd, "; "))
		}
	}, SpecTimeout(60*time.Second))

	// ---------------------------------------------------------------- JWT-017
	// emptyAndWeak are JWT-017's alternative keys: HS256/384/512 under the
	// empty secret, HS256 under each of forge.WeakSecrets (all shorter
	// than the 32 bytes RFC 7518 §3.2 requires of an HS256 key).
	type altKey struct {
		what   string
		alg    string
		secret string
	}
	var emptyAndWeak []altKey
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		emptyAndWeak = append(emptyAndWeak, altKey{alg + " under the empty secret", alg, ""})
	}
	for _, s := range forge.WeakSecrets {
		emptyAndWeak = append(emptyAndWeak, altKey{fmt.Sprintf("HS256 under the weak secret %q", s), "HS256", s})
	}
	c.It("JWT-017", fmt.Sprintf("answers 401 to the admin's claims signed with HMAC under the empty secret (HS256, HS384, HS512) and under %d well-known weak secrets, while the genuine token gets 200, because an HMAC key shorter than the hash output must not be used (RFC 7518 §3.2) and such tokens can be minted by anyone", len(forge.WeakSecrets)), func() {
		m := claims(genuine())
		signaturesChecked(m)
		for _, a := range emptyAndWeak {
			expect401(bearerGet(cl, protected(), hmacJWS(a.alg, m, []byte(a.secret))), "the admin's claims signed "+a.what)
		}
	})
	if c.Profile.Can(spec.CapRS256) {
		c.It("JWT-017", fmt.Sprintf("answers 401 on an RS256 deployment to the admin's claims signed with HMAC under the empty secret and under %d well-known weak secrets, while the genuine RS256 token gets 200, because a deployment that signs with RS256 must not keep an HMAC fallback with a guessable key (RFC 7518 §3.2, RFC 8725 §3.1)", len(forge.WeakSecrets)), func(ctx SpecContext) {
			t, dcl, _, _ := rs256Target(ctx)
			tok := login(c, dcl, t.Principals.Admin).Access
			framework.ControlThat("the alg of a token issued by a deployment given JWT_PUBLIC_KEY/JWT_PRIVATE_KEY (seed 003: RS256)", header(tok)["alg"], Equal("RS256"))
			framework.Control(bearerGet(dcl, protected(), tok), "the admin's genuine RS256 token on the protected resource", http.StatusOK)
			m := claims(tok)
			for _, a := range emptyAndWeak {
				expect401(bearerGet(dcl, protected(), hmacJWS(a.alg, m, []byte(a.secret))), "the admin's claims signed "+a.what)
			}
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-018
	c.It("JWT-018", "answers 401, never 5xx, to the admin's claims under kid headers carrying path traversal, SQL and shell metacharacters or 10 kB, signed with the key each kid would select in a naive lookup (empty, attacker-chosen) or a foreign one, and should answer none of them more than 10 times slower than the median of ordinary 401s, while the genuine token gets 200, because a kid only selects among the server's own keys and must never reach a file system, database or shell (RFC 7515 §4.1.4, §5.2; RFC 8725 §3.10)", func() {
		m := claims(genuine())
		signaturesChecked(m)
		timed := func(tok string) (*framework.Resp, time.Duration) {
			GinkgoHelper()
			t0 := time.Now()
			r := bearerGet(cl, protected(), tok)
			return r, time.Since(t0)
		}
		var base []time.Duration
		for i := 0; i < 7; i++ {
			r, d := timed(hs256(nil, m, []byte(randomSecret())))
			expect401(r, "the admin's claims signed with a foreign secret (an ordinary 401)")
			base = append(base, d)
		}
		sort.Slice(base, func(i, j int) bool { return base[i] < base[j] })
		median := base[len(base)/2]
		// Below 100 ms a difference cannot be told from scheduling noise
		// on a shared machine; an injected `sleep 2` is 20 times that.
		limit := max(10*median, 100*time.Millisecond)
		foreign := randomSecret()
		rows := []struct {
			kid, secret string
		}{
			{"../../../../../../../dev/null", ""},
			{"/dev/null", ""},
			{"../../../../../../../dev/null", foreign},
			{"../../../../../../../etc/passwd", foreign},
			{"' UNION SELECT 'attacker-key' -- ", "attacker-key"},
			{"x' OR '1'='1", foreign},
			{"1; DROP TABLE keys; --", foreign},
			{"key1|sleep 2", foreign},
			{"$(sleep 2)", foreign},
			{"`sleep 2`", foreign},
			{"key1; sleep 2 #", foreign},
			{strings.Repeat("A", 10<<10), foreign},
		}
		var slow []string
		for _, rw := range rows {
			tok := hs256(map[string]any{"kid": rw.kid}, m, []byte(rw.secret))
			what := fmt.Sprintf("kid %.40q", rw.kid)
			if len(rw.kid) > 40 {
				what = fmt.Sprintf("a kid of %d bytes", len(rw.kid))
			}
			r, d := timed(tok)
			expect401(r, "the admin's claims under "+what)
			// Slow only when it is slow three times in a row: one slow
			// answer on a noisy machine proves nothing.
			for try := 0; d > limit && try < 2; try++ {
				_, d2 := timed(tok)
				d = min(d, d2)
			}
			if d > limit {
				slow = append(slow, fmt.Sprintf("%s: %v", what, d.Round(time.Millisecond)))
			}
		}
		framework.Info("median of ordinary 401 answers: %v", median)
		if len(slow) > 0 {
			framework.ShouldNote("answers slower than %v (10 times the median %v of ordinary 401s, at least 100 ms), three times each: %s", limit.Round(time.Millisecond), median, strings.Join(slow, "; "))
		}
	})
	c.It("JWT-018", "answers 401 to a token validly signed with the target's own key whose crit header names an extension nobody defined, and should answer 401 to an empty crit list, while the same claims unchanged get 200, because a JWS with a critical extension the recipient does not understand is invalid (RFC 7515 §4.1.11)", func(ctx SpecContext) {
		k := signingWith(ctx, true)
		k.control(protected())
		h, m, _, err := forge.Parts(k.tok)
		framework.ControlOK(err == nil, "the issued access token must be a compact JWS (JWT-001 judges its form): %v", err)
		pb, _ := json.Marshal(m)
		withCrit := func(crit []string, ext bool) string {
			GinkgoHelper()
			hm := map[string]any{}
			for key, v := range h {
				hm[key] = v
			}
			hm["crit"] = crit
			if ext {
				hm["x-authconform-unknown"] = true
			}
			hb, _ := json.Marshal(hm)
			tok, err := forge.SignRaw(hb, pb, k.secret, k.priv)
			framework.ControlOK(err == nil, "sign with the target's key: %v", err)
			k.cl.AddSecret(secretsOf(tok)...)
			return tok
		}
		expect401(bearerGet(k.cl, protected(), withCrit([]string{"x-authconform-unknown"}, true)), `token with crit ["x-authconform-unknown"] (an extension nobody defined)`)
		r := bearerGet(k.cl, protected(), withCrit([]string{}, false))
		notThrottled(r, "token with an empty crit list")
		Expect(r.Status).To(BeNumerically("<", 500), "token with an empty crit list: the target failed (never 5xx)\n%s", r.Exchange)
		if r.Status != http.StatusUnauthorized {
			framework.ShouldNote("a token with an empty crit list (RFC 7515 §4.1.11: producers MUST NOT send one) got %d, not 401", r.Status)
		}
	}, SpecTimeout(60*time.Second))

	// ---------------------------------------------------------------- JWT-019
	c.It("JWT-019", "should leave the victim's genuine token working (neither 401 nor 429) and its rate-limit budget untouched after 1,000 tokens forged with foreign secrets carrying the victim's sub, while that token got 200 before, because a forgery must neither lock out nor spend the budget of the principal it names (OWASP API4)", func(ctx SpecContext) {
		const n, workers = 1000, 8
		tok := cache.get(c, cl, member())
		before := framework.Control(bearerGet(cl, protected(), tok), "the victim's genuine token before the flood", http.StatusOK)
		m := claims(tok)
		signaturesChecked(m)
		forged := make(chan string, n)
		for i := 0; i < n; i++ {
			forged <- hs256(nil, m, []byte(randomSecret()))
		}
		close(forged)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			errs     int
		)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range forged {
					r, err := cl.Try(ctx, framework.Req{Method: http.MethodGet, Path: protected(), Header: framework.Cred(spec.TransportBearer, f)})
					mu.Lock()
					if err != nil {
						errs++
					} else {
						statuses[r.Status]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		AddReportEntry("statuses", fmt.Sprintf("forged tokens: %v, transport errors: %d", statuses, errs))
		if errs > n/10 {
			framework.Inconclusive("%d of %d forged requests got no answer: the flood cannot be judged", errs, n)
		}
		after := bearerGet(cl, protected(), tok)
		Expect(after).To(framework.HaveStatus(http.StatusOK), "the victim's genuine token after %d forged tokens carrying its sub (forged answers: %v)", n, statuses)
		rb, errB := spec.RateHeader(before.Header, spec.HeaderRateRemaining)
		ra, errA := spec.RateHeader(after.Header, spec.HeaderRateRemaining)
		sameWindow := before.Header.Get(spec.HeaderRateReset) != "" && before.Header.Get(spec.HeaderRateReset) == after.Header.Get(spec.HeaderRateReset)
		if errB == nil && errA == nil && sameWindow {
			// Between the two, the victim sent one request: the one after.
			Expect(ra).To(BeNumerically(">=", rb-1), "%s fell from %d to %d over %d forged tokens carrying the victim's sub: forgeries spent the victim's budget", spec.HeaderRateRemaining, rb, ra, n)
		} else {
			framework.Info("the victim's budget was not compared (no integral %s in one window on both answers)", spec.HeaderRateRemaining)
		}
	}, SpecTimeout(120*time.Second))

})

// loginOKText is JWT-001's positive spec text for profile login l.
func loginOKText(l *spec.Login) string {
	if l.RefDefined {
		return fmt.Sprintf("answers a login with the right password with 200, application/json and a JWT that authenticates on the protected resource (the reference's shape {%s, %s: %d} is SHOULD: the seed documents no login endpoint; 404/405 there is not-applicable)", l.AccessField, l.ExpiresField, l.Lifetime)
	}
	fields := []string{l.AccessField, l.ExpiresField}
	if l.RefreshField != "" {
		fields = append(fields, l.RefreshField)
	}
	if l.TokenType != "" {
		fields = append(fields, "token_type")
	}
	sort.Strings(fields)
	tt := ""
	if l.TokenType != "" {
		tt = fmt.Sprintf(", token_type %q", l.TokenType)
	}
	return fmt.Sprintf("answers a login with the right password with 200, application/json and the seed's fields %v (%s = %d%s; extra fields allowed) with a JWT that authenticates on the protected resource, because that is the profile's documented login response", fields, l.ExpiresField, l.Lifetime, tt)
}

// bodyDiff lists what differs between the wrong-password answer bad and
// the unknown-user answer unknown, leaving out the fields that also differ
// between two wrong-password answers (bad, bad2: request IDs, timestamps).
func bodyDiff(cl *framework.Client, bad, bad2, unknown *framework.Resp) []string {
	a, b, u := bad.JSONMap(), bad2.JSONMap(), unknown.JSONMap()
	if a == nil || u == nil {
		if string(bad.Body) != string(unknown.Body) && string(bad.Body) == string(bad2.Body) {
			return []string{"the bodies differ"}
		}
		return nil
	}
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range u {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		volatile := b != nil && !reflect.DeepEqual(a[k], b[k])
		if !volatile && !reflect.DeepEqual(a[k], u[k]) {
			out = append(out, spec.Mask(fmt.Sprintf("%q: %v vs %v", k, a[k], u[k]), cl.Secrets))
		}
	}
	sort.Strings(out)
	return out
}
