// Package jwt holds the conformance specs of the JWT area (JWT-001 ..
// JWT-013 of spec/catalogue.yaml): login, token lifetime, forged and
// tampered tokens, expiry, token confusion, refresh and refresh-token
// rotation. The specs check the profile contract of spec.Profile.Login;
// forged tokens come from suites/framework/forge.
package jwt

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// forgedRow is one hostile variant of a genuine token and the status a
// correct server answers it with.
type forgedRow struct {
	what string // completes "the admin's access token re-sent with ..."
	make func(tok string) (string, error)
	want int
}

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

	// genuine returns the admin's cached access token after checking that
	// it is accepted, so that a 401 for a forged variant is due to the
	// forgery and nothing else.
	genuine := func() string {
		GinkgoHelper()
		tok := cache.get(c, cl, admin())
		Expect(bearerGet(cl, protected(), tok)).To(framework.HaveStatus(http.StatusOK), "control: the genuine access token must be accepted")
		return tok
	}

	// signaturesChecked skips the spec when the target accepts the admin's
	// claims signed with a random foreign secret: it verifies no signature
	// at all (JWT-005 reports that), so what the spec probes on top of the
	// signature cannot be told apart.
	signaturesChecked := func(m map[string]any) {
		GinkgoHelper()
		if bearerGet(cl, protected(), hs256(nil, m, []byte(randomSecret()))).Status == http.StatusOK {
			Skip("the target accepts a token signed with a random foreign secret: it verifies no signature (JWT-005 reports that), so this cannot be measured")
		}
	}

	// ---------------------------------------------------------------- JWT-001
	wantFields := []string{l.AccessField, l.ExpiresField}
	if l.RefreshField != "" {
		wantFields = append(wantFields, l.RefreshField)
	}
	if l.TokenType != "" {
		wantFields = append(wantFields, "token_type")
	}
	sort.Strings(wantFields)

	c.It("JWT-001", fmt.Sprintf("answers a login with the right password with 200, application/json and exactly the fields %v (%s = %d%s), because that is the profile's documented login response", wantFields, l.ExpiresField, l.Lifetime, tokenTypeText(l)), func() {
		r, t := loginResp(c, cl, admin().Email, admin().Password)
		Expect(r).To(framework.HaveStatus(http.StatusOK))
		Expect(r.Header.Get("Content-Type")).To(HavePrefix("application/json"), r.Exchange)
		m := r.JSONMap()
		Expect(m).NotTo(BeNil(), "login body is not a JSON object\n%s", r.Exchange)
		got := make([]string, 0, len(m))
		for k := range m {
			got = append(got, k)
		}
		sort.Strings(got)
		Expect(got).To(Equal(wantFields), "login response fields\n%s", r.Exchange)
		Expect(strings.Count(t.Access, ".")).To(Equal(2), "%q must be a compact JWS\n%s", l.AccessField, r.Exchange)
		if l.RefreshField != "" {
			Expect(t.Refresh).NotTo(BeEmpty(), "%q must be a non-empty string\n%s", l.RefreshField, r.Exchange)
		}
		exp, ok := num(m, l.ExpiresField)
		Expect(ok).To(BeTrue(), "%q must be an integer\n%s", l.ExpiresField, r.Exchange)
		Expect(exp).To(BeEquivalentTo(l.Lifetime), "%q\n%s", l.ExpiresField, r.Exchange)
		if l.TokenType != "" {
			Expect(m["token_type"]).To(Equal(l.TokenType), "token_type\n%s", r.Exchange)
		}
		Expect(bearerGet(cl, protected(), t.Access)).To(framework.HaveStatus(http.StatusOK), "the issued token must authenticate on the protected resource")
	})

	c.It("JWT-001", "answers a login with a wrong password with 401 and the profile's error body, because a wrong password proves nothing", func() {
		r, _ := loginResp(c, cl, admin().Email, admin().Password+"-wrong")
		Expect(r).To(c.Be401())
	})

	c.It("JWT-001", "answers a login for an unknown user with the same 401 status, body and Content-Type as a wrong password, because a different answer tells an attacker which accounts exist", func() {
		bad, _ := loginResp(c, cl, admin().Email, admin().Password+"-wrong")
		unknown, _ := loginResp(c, cl, "no-such-user-4e1f@example.com", admin().Password)
		Expect(unknown).To(c.Be401())
		Expect(unknown.Status).To(Equal(bad.Status), "status differs\nwrong password:\n%s\nunknown user:\n%s", bad.Exchange, unknown.Exchange)
		Expect(string(unknown.Body)).To(Equal(string(bad.Body)), "body differs\nwrong password:\n%s\nunknown user:\n%s", bad.Exchange, unknown.Exchange)
		Expect(unknown.Header.Get("Content-Type")).To(Equal(bad.Header.Get("Content-Type")), "Content-Type differs")
	})

	// ---------------------------------------------------------------- JWT-002
	if c.Name() == spec.Roboticks || c.Name() == spec.Iotistica {
		c.It("JWT-002", fmt.Sprintf("issues access tokens whose exp - iat equals the announced lifetime of %d s and announces that lifetime in %q, because the seed promises tokens that expire after one hour", l.Lifetime, l.ExpiresField), func() {
			t := login(c, cl, admin())
			m := claims(t.Access)
			iat, ok1 := num(m, "iat")
			exp, ok2 := num(m, "exp")
			Expect(ok1).To(BeTrue(), "the access token has no numeric iat claim: %v", keysOf(m))
			Expect(ok2).To(BeTrue(), "the access token has no numeric exp claim: %v", keysOf(m))
			Expect(exp-iat).To(BeEquivalentTo(l.Lifetime), "exp - iat of the issued token")
			Expect(t.ExpiresIn).To(BeEquivalentTo(l.Lifetime), "%q of the login response", l.ExpiresField)
			now := time.Now().Unix()
			Expect(iat).To(BeNumerically("~", now, 60), "iat must be the time of issue")
		})
	}

	// ---------------------------------------------------------------- JWT-003
	for _, row := range []forgedRow{
		{what: `alg "none" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "none") }, want: 401},
		{what: `alg "None" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "None") }, want: 401},
		{what: `alg "NONE" and an empty signature`, make: func(t string) (string, error) { return forge.AlgNone(t, "NONE") }, want: 401},
		{what: `alg "none" and its original signature kept`, make: func(t string) (string, error) {
			n, err := forge.AlgNone(t, "none")
			return n + t[strings.LastIndex(t, ".")+1:], err
		}, want: 401},
		{what: "its own alg header and an empty signature", make: func(t string) (string, error) { return forge.EmptySignature(t), nil }, want: 401},
	} {
		c.It("JWT-003", fmt.Sprintf("answers %d with the profile's body to the admin's access token re-sent with %s, because an unsigned token proves nothing (RFC 8725 §3.1)", row.want, row.what), func() {
			forged, err := row.make(genuine())
			Expect(err).NotTo(HaveOccurred())
			Expect(bearerGet(cl, protected(), forged)).To(c.Be401())
		})
	}

	// ---------------------------------------------------------------- JWT-004
	if c.Name() == spec.Iotistica {
		c.It("JWT-004", "answers 401 on an RS256 deployment to an HS256 token signed with the deployment's public key as HMAC secret, while the genuine RS256 token gets 200, because the verifier must not let the token choose the algorithm (RFC 8725 §2.1)", func(ctx SpecContext) {
			kp := rsaKeys()[0]
			t, dcl := deploy(ctx, c, map[string]string{"JWT_PUBLIC_KEY": kp.PubPEM, "JWT_PRIVATE_KEY": kp.PrivPEM})
			tok := login(c, dcl, t.Principals.Admin).Access
			Expect(header(tok)["alg"]).To(Equal("RS256"), "a deployment given JWT_PUBLIC_KEY/JWT_PRIVATE_KEY must issue RS256 tokens")
			Expect(bearerGet(dcl, protected(), tok)).To(framework.HaveStatus(http.StatusOK), "control: the genuine RS256 token")
			m := claims(tok)
			for _, v := range []struct {
				name   string
				secret []byte
			}{
				{"the PEM exactly as deployed", []byte(kp.PubPEM)},
				{"the PEM without its final newline", []byte(strings.TrimRight(kp.PubPEM, "\n"))},
				{"the DER bytes of the key", kp.PubDER},
			} {
				forged := hs256(nil, m, v.secret)
				r := bearerGet(dcl, protected(), forged)
				Expect(r).To(c.Be401(), "HS256 token signed with %s", v.name)
			}
			forged, err := forge.KeyConfusion(m, kp.PubPEM)
			Expect(err).NotTo(HaveOccurred())
			Expect(bearerGet(dcl, protected(), forged)).To(c.Be401(), "forge.KeyConfusion")
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-005
	for _, row := range []forgedRow{
		{what: "its signature stripped (two segments)", make: func(t string) (string, error) { return forge.StripSignature(t), nil }, want: 401},
		{what: "its signature truncated by four characters", make: func(t string) (string, error) { return forge.TruncateSignature(t), nil }, want: 401},
		{what: "the first character of its signature changed", make: func(t string) (string, error) {
			i := strings.LastIndex(t, ".") + 1
			ch := byte('A')
			if t[i] == 'A' {
				ch = 'B'
			}
			return t[:i] + string(ch) + t[i+1:], nil
		}, want: 401},
		{what: "its payload altered (exp one day later) under the original signature", make: func(t string) (string, error) {
			m, err := forge.Claims(t)
			if err != nil {
				return "", err
			}
			exp, _ := num(m, "exp")
			return forge.AlterPayload(t, "exp", exp+86400)
		}, want: 401},
		{what: "its payload altered (sub of another user) under the original signature", make: func(t string) (string, error) {
			m, err := forge.Claims(t)
			if err != nil {
				return "", err
			}
			return forge.AlterPayload(t, "sub", fmt.Sprint(m["sub"])+"-other")
		}, want: 401},
		{what: "an extra claim added to its payload (role admin) under the original signature", make: func(t string) (string, error) {
			return forge.AlterPayload(t, "role", "admin")
		}, want: 401},
	} {
		c.It("JWT-005", fmt.Sprintf("answers %d with the profile's body to the admin's access token re-sent with %s, because only an intact signature over the exact header and payload authenticates (RFC 7515)", row.want, row.what), func() {
			forged, err := row.make(genuine())
			Expect(err).NotTo(HaveOccurred())
			Expect(bearerGet(cl, protected(), forged)).To(c.Be401())
		})
	}
	c.It("JWT-005", "answers 401 to the member's token header and payload joined to the admin's token signature, because a signature only vouches for the token it was computed over (RFC 7515)", func() {
		adm := genuine()
		mem := cache.get(c, cl, member())
		spliced := mem[:strings.LastIndex(mem, ".")] + adm[strings.LastIndex(adm, "."):]
		Expect(bearerGet(cl, protected(), spliced)).To(c.Be401())
	})

	// ---------------------------------------------------------------- JWT-006
	// hsDeploy starts an HS256 deployment with a secret of the suite's
	// choosing and returns a client for it and a genuine admin token.
	hsDeploy := func(ctx context.Context) (*framework.Client, string, string) {
		GinkgoHelper()
		secret := randomSecret()
		t, dcl := deploy(ctx, c, map[string]string{"JWT_SECRET": secret})
		tok := login(c, dcl, t.Principals.Admin).Access
		Expect(header(tok)["alg"]).To(Equal("HS256"), "a deployment given JWT_SECRET must issue HS256 tokens")
		return dcl, tok, secret
	}
	// signing returns a target whose signing key the suite holds: the
	// target itself when its file gives control.jwtSecret or
	// control.jwtPrivateKey, else a fresh HS256 deployment. It returns a
	// client for it, a genuine admin token, and the HS256 secret or the
	// RS256 private key (PEM).
	signing := func(ctx context.Context) (dcl *framework.Client, tok, secret, priv string) {
		GinkgoHelper()
		if ct := c.Target().Control; ct.JWTSecret != "" || ct.JWTPrivateKey != "" {
			return cl, login(c, cl, c.Target().Principals.Admin).Access, ct.JWTSecret, ct.JWTPrivateKey
		}
		dcl, tok, secret = hsDeploy(ctx)
		return dcl, tok, secret, ""
	}
	// resigned signs tok's claims after edit with the known key, masks it,
	// and checks the control: the same claims unedited are accepted, so the
	// suite really holds the target's key.
	resign := func(dcl *framework.Client, tok, secret, priv string, edit func(m map[string]any)) string {
		GinkgoHelper()
		same, err := forge.Resign(tok, secret, priv, func(map[string]any) {})
		Expect(err).NotTo(HaveOccurred())
		dcl.AddSecret(secretsOf(same)...)
		Expect(bearerGet(dcl, protected(), same)).To(framework.HaveStatus(http.StatusOK), "control: the token re-signed with the target's signing key and unchanged claims must be accepted")
		out, err := forge.Resign(tok, secret, priv, edit)
		Expect(err).NotTo(HaveOccurred())
		dcl.AddSecret(secretsOf(out)...)
		return out
	}
	expiredBy := func(d time.Duration) func(m map[string]any) {
		return func(m map[string]any) {
			exp := time.Now().Add(-d).Unix()
			m["exp"] = exp
			m["iat"] = exp - int64(l.Lifetime)
			if _, ok := m["nbf"]; ok {
				m["nbf"] = exp - int64(l.Lifetime)
			}
		}
	}
	for _, row := range []struct {
		ago  time.Duration
		want int
		why  string
	}{
		{120 * time.Second, 401, "it is expired well beyond any leeway (RFC 7519 §4.1.4)"},
		{61 * time.Second, 401, "the leeway for clock skew may be at most 60 s"},
		{5 * time.Second, 200, "a few seconds of clock-skew leeway keep clients with slightly fast clocks working"},
	} {
		c.It("JWT-006", fmt.Sprintf("answers %d to a token validly signed with the target's own signing key whose exp lies %d s in the past, because %s", row.want, int(row.ago.Seconds()), row.why), func(ctx SpecContext) {
			dcl, tok, secret, priv := signing(ctx)
			forged := resign(dcl, tok, secret, priv, expiredBy(row.ago))
			r := bearerGet(dcl, protected(), forged)
			if row.want == 401 {
				Expect(r).To(c.Be401())
			} else {
				Expect(r).To(framework.HaveStatus(row.want))
			}
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-007
	c.It("JWT-007", "should answer 401 to a token validly signed with the target's own signing key but without exp, because a token that never expires cannot be contained once leaked (RFC 8725)", func(ctx SpecContext) {
		dcl, tok, secret, priv := signing(ctx)
		forged := resign(dcl, tok, secret, priv, func(m map[string]any) { delete(m, "exp") })
		Expect(bearerGet(dcl, protected(), forged)).To(c.Be401())
	}, SpecTimeout(60*time.Second))
	c.It("JWT-007", "should answer 401 to a token validly signed with the target's own signing key whose nbf lies 5 minutes in the future, because it is not valid yet (RFC 7519 §4.1.5)", func(ctx SpecContext) {
		dcl, tok, secret, priv := signing(ctx)
		forged := resign(dcl, tok, secret, priv, func(m map[string]any) { m["nbf"] = time.Now().Add(5 * time.Minute).Unix() })
		Expect(bearerGet(dcl, protected(), forged)).To(c.Be401())
	}, SpecTimeout(60*time.Second))

	// ---------------------------------------------------------------- JWT-008
	c.It("JWT-008", "should answer 401, never 5xx, to the admin's claims signed with a foreign HMAC secret under a kid naming some other key, because a kid must only select among the server's own keys (RFC 8725 §3.10)", func() {
		m := claims(genuine())
		signaturesChecked(m)
		for _, kid := range []string{"foreign-key-2026", "../../../../../../dev/null", "' OR '1'='1", "0"} {
			Expect(bearerGet(cl, protected(), hs256(map[string]any{"kid": kid}, m, []byte(randomSecret())))).To(c.Be401(), "kid %q, foreign secret", kid)
		}
		// /dev/null as key file: an empty secret.
		Expect(bearerGet(cl, protected(), hs256(map[string]any{"kid": "../../../../../../dev/null"}, m, nil))).To(c.Be401(), "kid pointing at /dev/null, empty secret")
	})
	for _, hdr := range []string{"jku", "x5u"} {
		c.It("JWT-008", fmt.Sprintf("should answer 401, never 5xx, to the admin's claims signed with a foreign RSA key whose %s header points at a key set the suite serves on 127.0.0.1, and never fetch that URL, because keys named by the token are the attacker's keys (RFC 8725 §3.10)", hdr), func() {
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
			Expect(bearerGet(cl, protected(), forged)).To(c.Be401())
			Consistently(hits.Load).WithTimeout(300*time.Millisecond).WithPolling(50*time.Millisecond).Should(BeZero(), "the server fetched the %s URL the token named", hdr)
		})
	}
	c.It("JWT-008", "should answer 401, never 5xx, to the admin's claims signed with a foreign RSA key that is embedded in the token's jwk header, because a token cannot vouch for itself (RFC 8725 §3.10)", func() {
		m := claims(genuine())
		signaturesChecked(m)
		foreign := rsaKeys()[1]
		forged, err := signRS256(foreign, map[string]any{"jwk": jwk(foreign, "attacker-1"), "kid": "attacker-1"}, m)
		Expect(err).NotTo(HaveOccurred())
		Expect(bearerGet(cl, protected(), forged)).To(c.Be401())
	})

	// ---------------------------------------------------------------- JWT-009
	if c.Name() == spec.Iotistica {
		c.It("JWT-009", "answers 401 to a refresh token used as a bearer access token, because a refresh token is only for the refresh endpoint (RFC 8725 §3.11-12)", func() {
			t := login(c, cl, admin())
			Expect(t.Refresh).NotTo(BeEmpty(), "login response has no %q", l.RefreshField)
			Expect(bearerGet(cl, protected(), t.Access)).To(framework.HaveStatus(http.StatusOK), "control: the access token")
			Expect(bearerGet(cl, protected(), t.Refresh)).To(c.Be401())
		})
		c.It("JWT-009", "answers 401 to an access token sent to the refresh endpoint as refreshToken, because an access token must not mint new token pairs (RFC 8725 §3.11-12)", func() {
			t := login(c, cl, admin())
			r, _ := refresh(c, cl, t.Access)
			Expect(r).To(c.Be401())
		})
		c.It("JWT-009", "answers 401 to the deployment's license JWT used as a bearer access token, because a license is signed for another purpose (RFC 8725 §3.11-12)", func() {
			lic := c.Target().Control.LicenseToken
			if lic == "" {
				Skip("the target does not name its license JWT (control.licenseToken)")
			}
			cl.AddSecret(secretsOf(lic)...)
			Expect(bearerGet(cl, protected(), lic)).To(c.Be401())
		})
	}
	if c.Name() == spec.Roboticks {
		c.It("JWT-009", "answers 401 at the refresh endpoint to the user's API key as the current token, because only an access token may be refreshed and an API key must not mint JWTs (RFC 8725 §3.11-12)", func() {
			r, _ := refresh(c, cl, admin().APIKey)
			Expect(r).To(c.Be401())
		})
	}

	// ---------------------------------------------------------------- JWT-010
	if l.RefreshPath != "" {
		c.It("JWT-010", fmt.Sprintf("answers a refresh (%s) with 200 and a new access token that works on the protected resource, because the seed documents refresh as the way to continue a session", l.RefreshStyle), func() {
			t := login(c, cl, member())
			cred := t.Access
			if l.RefreshStyle == spec.RefreshBodyToken {
				cred = t.Refresh
			}
			r, nt := refresh(c, cl, cred)
			Expect(r).To(framework.HaveStatus(http.StatusOK))
			Expect(nt.Access).NotTo(BeEmpty(), "refresh response has no %q\n%s", l.AccessField, r.Exchange)
			Expect(strings.Count(nt.Access, ".")).To(Equal(2), "%q must be a compact JWS\n%s", l.AccessField, r.Exchange)
			if l.RefreshStyle == spec.RefreshBodyToken {
				Expect(nt.Refresh).NotTo(BeEmpty(), "refresh must return a new pair; no %q\n%s", l.RefreshField, r.Exchange)
			}
			Expect(bearerGet(cl, protected(), nt.Access)).To(framework.HaveStatus(http.StatusOK), "the refreshed access token")
		})
	}
	if c.Name() == spec.Roboticks {
		c.It("JWT-010", "answers 401 to a refresh with a validly signed but expired access token, because the seed requires refreshing before expiry and an expired token must not extend a session", func(ctx SpecContext) {
			var (
				dcl    = cl
				tok    string
				secret = c.Target().Control.JWTSecret
			)
			switch {
			case secret != "":
				tok = login(c, cl, member()).Access
			case c.Env.CanDeploy():
				dcl, tok, secret = hsDeploy(ctx)
			default:
				Skip("needs the target's HS256 secret (control.jwtSecret) or control of the deployment to sign an expired token")
			}
			same, err := forge.Resign(tok, secret, "", func(map[string]any) {})
			Expect(err).NotTo(HaveOccurred())
			dcl.AddSecret(secretsOf(same)...)
			Expect(bearerGet(dcl, protected(), same)).To(framework.HaveStatus(http.StatusOK), "control: the token re-signed with the known secret and unchanged claims must be accepted")
			expired, err := forge.Resign(tok, secret, "", expiredBy(120*time.Second))
			Expect(err).NotTo(HaveOccurred())
			dcl.AddSecret(secretsOf(expired)...)
			r, _ := refresh(c, dcl, expired)
			Expect(r).To(c.Be401())
		}, SpecTimeout(60*time.Second))
	}

	if c.Name() == spec.Iotistica {
		// ------------------------------------------------------------ JWT-011
		c.It("JWT-011", "should answer 401 when a rotated-out refresh token is used again and then also refuse the newest refresh token of that family, because reuse means the token leaked (RFC 9700 §4.14.2)", func() {
			t0 := login(c, cl, member())
			r1, t1 := refresh(c, cl, t0.Refresh)
			Expect(r1).To(framework.HaveStatus(http.StatusOK), "first refresh")
			Expect(t1.Refresh).NotTo(BeEmpty(), "first refresh returned no refresh token")
			Expect(t1.Refresh).NotTo(Equal(t0.Refresh), "refresh must rotate the refresh token")
			reuse, _ := refresh(c, cl, t0.Refresh)
			Expect(reuse).To(c.Be401(), "reuse of the rotated-out refresh token")
			newest, _ := refresh(c, cl, t1.Refresh)
			Expect(newest).To(c.Be401(), "the newest refresh token of the family after reuse was detected")
		})

		// ------------------------------------------------------------ JWT-012
		c.It("JWT-012", "should let at most one of 50 refreshes racing with one refresh token succeed, because a rotated refresh token is single-use (RFC 9700 §4.14.2)", func(ctx SpecContext) {
			const n = 50
			t0 := login(c, cl, member())
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
				Expect(errs[i]).NotTo(HaveOccurred())
				if s >= 200 && s < 300 {
					ok++
				} else {
					other[s]++
				}
			}
			AddReportEntry("statuses", fmt.Sprintf("2xx: %d, others: %v", ok, other))
			Expect(ok).To(BeNumerically("<=", 1), "%d of %d parallel refreshes with one refresh token succeeded (others: %v)", ok, n, other)
			for s := range other {
				Expect(s).To(BeNumerically("<", 500), "a racing refresh got %d", s)
			}
		}, SpecTimeout(60*time.Second))
	}

	// ---------------------------------------------------------------- JWT-013
	c.It("JWT-013", fmt.Sprintf("should answer 401 to the admin's claims signed with HS256 under each of %d common weak secrets, because a guessable secret lets anyone mint tokens (RFC 8725 §3.5)", len(forge.WeakSecrets)), func() {
		tok := genuine()
		if alg := header(tok)["alg"]; alg != "HS256" {
			Skip(fmt.Sprintf("the target signs with %v, not HS256", alg))
		}
		m := claims(tok)
		signaturesChecked(m)
		for _, s := range forge.WeakSecrets {
			forged, err := forge.SignHS256(m, []byte(s))
			Expect(err).NotTo(HaveOccurred())
			Expect(bearerGet(cl, protected(), forged)).To(c.Be401(), "HS256 signed with the weak secret %q", s)
		}
	})
})

func tokenTypeText(l *spec.Login) string {
	if l.TokenType == "" {
		return ""
	}
	return fmt.Sprintf(", token_type %q", l.TokenType)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
