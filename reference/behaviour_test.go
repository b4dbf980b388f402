package reference

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

func TestErrorBodiesPerProfile(t *testing.T) {
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			path := e.protected()
			r := e.get(path, nil)
			expect(t, r, 401, "missing")
			if err := e.p.Err401Missing.Match(r.body); err != nil {
				t.Errorf("missing: %v", err)
			}
			if r.h.Get("Content-Type") != "application/json" || r.h.Get("WWW-Authenticate") == "" {
				t.Errorf("missing: headers %v", r.h)
			}
			invalid := []http.Header{e.key(e.tg.RevokedKey), e.key(e.tg.RevokedKey + "x"), hdr("Authorization", "Bearer \x00")}
			if p == spec.Iotistica {
				invalid = []http.Header{devH(e.tg.RevokedKey), bearerH("not.a.jwt"), devH(e.tg.RevokedKey[:20])}
			}
			var first resp
			for i, h := range invalid {
				r := e.get(path, h)
				if p == spec.Iotistica && i != 1 {
					r = e.get("/device/"+fixtures.AgentUUIDRevoked+"/state", h)
				}
				expect(t, r, 401, fmt.Sprintf("invalid %d", i))
				if err := e.p.Err401.Match(r.body); err != nil {
					t.Errorf("invalid %d: %v", i, err)
				}
				if i == 0 {
					first = r
				} else if string(first.body) != string(r.body) || first.h.Get("WWW-Authenticate") != r.h.Get("WWW-Authenticate") {
					t.Errorf("invalid %d differs from the first (oracle)", i)
				}
			}
		})
	}
}

func TestTransports(t *testing.T) {
	type row struct {
		p    spec.ProfileName
		name string
		h    func(e *env) http.Header
		path string
		want int
	}
	rows := []row{
		{spec.Roboticks, "bearer key", func(e *env) http.Header { return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.Roboticks, "lowercase bearer", func(e *env) http.Header { return hdr("Authorization", "bearer "+e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.Roboticks, "BEARER", func(e *env) http.Header { return hdr("Authorization", "BEARER "+e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.Roboticks, "x-api-key", func(e *env) http.Header { return hdr("X-API-Key", e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.Roboticks, "raw authorization", func(e *env) http.Header { return hdr("Authorization", e.tg.Principals.Admin.APIKey) }, "", 401},
		{spec.Roboticks, "jwt in x-api-key", func(e *env) http.Header { return hdr("X-API-Key", e.admin()) }, "", 401},
		{spec.Roboticks, "two principals", func(e *env) http.Header {
			return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey, "X-API-Key", e.tg.Principals.Member.APIKey)
		}, "", 401},
		{spec.Roboticks, "same key twice", func(e *env) http.Header {
			return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey, "X-API-Key", e.tg.Principals.Admin.APIKey)
		}, "", 200},
		{spec.Roboticks, "duplicated authorization", func(e *env) http.Header {
			return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey, "Authorization", "Bearer "+e.tg.Principals.Admin.APIKey)
		}, "", 401},
		{spec.Roboticks, "query string", func(e *env) http.Header { return nil }, "?api_key=KEY", 401},
		{spec.Rigbox, "x-api-key is no transport", func(e *env) http.Header { return hdr("X-API-Key", e.tg.Principals.Admin.APIKey) }, "", 401},
		{spec.Rigbox, "bearer", func(e *env) http.Header { return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.RequestRocket, "raw", func(e *env) http.Header { return hdr("Authorization", e.tg.Principals.Admin.APIKey) }, "", 200},
		{spec.RequestRocket, "bearer is no transport", func(e *env) http.Header { return hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey) }, "", 401},
		{spec.RequestRocket, "x-api-key is no transport", func(e *env) http.Header { return hdr("X-API-Key", e.tg.Principals.Admin.APIKey) }, "", 401},
		{spec.Iotistica, "device key as bearer", func(e *env) http.Header { return bearerH(e.tg.Devices[0].APIKey) }, "", 401},
		{spec.Iotistica, "device key on user endpoint", func(e *env) http.Header { return devH(e.tg.Devices[0].APIKey) }, "", 403},
		{spec.Iotistica, "jwt", func(e *env) http.Header { return bearerH(e.admin()) }, "", 200},
	}
	envs := map[spec.ProfileName]*env{}
	for _, r := range rows {
		t.Run(string(r.p)+"/"+r.name, func(t *testing.T) {
			e := envs[r.p]
			if e == nil {
				e = newEnv(t, r.p)
				envs[r.p] = e
			}
			e.t = t
			path := e.protected() + strings.ReplaceAll(r.path, "KEY", e.tg.Principals.Admin.APIKey)
			expect(t, e.get(path, r.h(e)), r.want, r.name)
		})
	}
}

func TestKeyVariantsRejected(t *testing.T) {
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox, spec.RequestRocket} {
		e := newEnv(t, p)
		k := e.tg.Principals.Admin.APIKey
		flip := []byte(k)
		last := len(flip) - 1
		if flip[last] >= 'a' && flip[last] <= 'z' {
			flip[last] -= 32
		} else if flip[last] >= 'A' && flip[last] <= 'Z' {
			flip[last] += 32
		} else {
			flip[last] = 'q'
		}
		for name, v := range map[string]string{
			"unknown":   e.p.UserKeyPrefix + randomBase62(),
			"prefix":    "zz_" + k[len(e.p.UserKeyPrefix):],
			"truncated": k[:len(k)-1],
			"appended":  k + "A",
			"flipped":   string(flip),
		} {
			r := e.get(e.protected(), e.key(v))
			expect(t, r, 401, string(p)+" "+name)
			if err := e.p.Err401.Match(r.body); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestMalformedInputNever5xx(t *testing.T) {
	huge := strings.Repeat("a", 64<<10)
	for _, p := range spec.AllProfiles {
		e := newEnv(t, p)
		hs := map[string]http.Header{
			"64KiB":      hdr("Authorization", "Bearer "+huge),
			"64KiB-x":    hdr("X-API-Key", huge, "X-Device-API-Key", huge, "X-Other", huge),
			"NUL":        hdr("Authorization", "Bearer abc\x00def"),
			"non-UTF-8":  hdr("Authorization", "Bearer \xff\xfe\xfd"),
			"dots":       hdr("Authorization", "Bearer "+strings.Repeat(".", 100000)),
			"duplicated": hdr("Authorization", "Bearer a", "Authorization", "Bearer b"),
			"empty":      hdr("Authorization", ""),
			"scheme":     hdr("Authorization", "Bearer"),
		}
		for name, h := range hs {
			r := e.get(e.protected(), h)
			if r.code < 400 || r.code >= 500 {
				t.Errorf("%s %s: status %d", p, name, r.code)
			}
		}
		if e.p.Login != nil {
			for _, body := range []string{"{", "[]", `{"email":1}`, "\xff\xfe", strings.Repeat("x", MaxBodyBytes+10), `{"email":"` + strings.Repeat("a", 70000) + `"}`} {
				r := e.do(http.MethodPost, "/auth/login", nil, body)
				if r.code < 400 || r.code >= 500 {
					t.Errorf("%s login body %.10q: status %d", p, body, r.code)
				}
			}
		}
	}
}

func TestJWTValidation(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	now := e.clk.Now()
	good := e.admin()
	parts := strings.Split(good, ".")
	none := func(alg string) string {
		h := jwt.NewWithClaims(jwt.SigningMethodNone, e.accessClaims(fixtures.AdminID, now, time.Hour))
		h.Header["alg"] = alg
		s, _ := h.SigningString()
		return s + "."
	}
	cases := map[string]string{
		"alg none":        none("none"),
		"alg None":        none("None"),
		"alg NONE":        none("NONE"),
		"stripped sig":    parts[0] + "." + parts[1] + ".",
		"truncated sig":   parts[0] + "." + parts[1] + "." + parts[2][:10],
		"altered payload": parts[0] + "." + strings.TrimRight(parts[1], "=") + "A." + parts[2],
		"weak secret":     forgeHS(t, "secret", e.accessClaims(fixtures.AdminID, now, time.Hour)),
		"no exp":          forgeHS(t, fixtures.JWTSecret, jwt.MapClaims{"iss": e.s.issuer(), "sub": fixtures.AdminID, "iat": now.Unix(), "token_use": "access"}),
		"expired":         forgeHS(t, fixtures.JWTSecret, e.accessClaims(fixtures.AdminID, now.Add(-time.Hour-Leeway-time.Second), time.Hour)),
		"future nbf":      forgeHS(t, fixtures.JWTSecret, jwt.MapClaims{"iss": e.s.issuer(), "sub": fixtures.AdminID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix(), "token_use": "access"}),
		"refresh as access": func() string {
			c := e.accessClaims(fixtures.AdminID, now, time.Hour)
			c["token_use"] = "refresh"
			return forgeHS(t, fixtures.JWTSecret, c)
		}(),
		"license as access": e.tg.Control.LicenseToken,
		"kid jku": func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodHS256, e.accessClaims(fixtures.AdminID, now, time.Hour))
			tk.Header["jku"] = "http://127.0.0.1:1/jwks"
			s, _ := tk.SignedString([]byte("other-secret-other-secret-other-secret"))
			return s
		}(),
		"unknown subject": forgeHS(t, fixtures.JWTSecret, e.accessClaims("usr_nobody", now, time.Hour)),
		"wrong issuer": func() string {
			c := e.accessClaims(fixtures.AdminID, now, time.Hour)
			c["iss"] = "elsewhere"
			return forgeHS(t, fixtures.JWTSecret, c)
		}(),
	}
	for name, tok := range cases {
		expect(t, e.get("/agents", bearerH(tok)), 401, name)
	}
	inLeeway := forgeHS(t, fixtures.JWTSecret, e.accessClaims(fixtures.AdminID, now.Add(-time.Hour-Leeway/2), time.Hour))
	expect(t, e.get("/agents", bearerH(inLeeway)), 200, "inside leeway")
	// exp - iat is exactly the announced lifetime
	var c tokenClaims
	if _, _, err := jwt.NewParser().ParseUnverified(good, &c); err != nil || c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour {
		t.Fatalf("exp-iat = %v (err %v)", c.ExpiresAt.Sub(c.IssuedAt.Time), err)
	}
	if Leeway > 60*time.Second {
		t.Fatal("leeway above 60 s")
	}
}

func TestJWTDeploymentConfig(t *testing.T) {
	_, pub := fixtures.JWTKeyPair()
	_ = pub
	for name, c := range map[string]struct {
		env []string
		err bool
		alg string
	}{
		"default":         {nil, false, "HS256"},
		"secret":          {[]string{"JWT_SECRET", strings.Repeat("s", 32)}, false, "HS256"},
		"short secret":    {[]string{"JWT_SECRET", "short"}, true, ""},
		"rs256":           {[]string{"JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM}, false, "RS256"},
		"rs256 escaped":   {[]string{"JWT_PUBLIC_KEY", strings.ReplaceAll(fixtures.JWTPublicKeyPEM, "\n", `\n`), "JWT_PRIVATE_KEY", strings.ReplaceAll(fixtures.JWTPrivateKeyPEM, "\n", `\n`)}, false, "RS256"},
		"both":            {[]string{"JWT_SECRET", strings.Repeat("s", 32), "JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM}, true, ""},
		"half pair":       {[]string{"JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM}, true, ""},
		"bad pem":         {[]string{"JWT_PUBLIC_KEY", "x", "JWT_PRIVATE_KEY", "y"}, true, ""},
		"bad license pub": {[]string{"LICENSE_PUBLIC_KEY", "nope"}, true, ""},
	} {
		s, err := New(Config{Profile: spec.Iotistica, Env: withEnvMap(c.env)})
		if c.err {
			if err == nil || !errors.Is(err, ErrConfig) {
				t.Errorf("%s: err %v, want ErrConfig", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.JWTAlg() != c.alg {
			t.Errorf("%s: alg %s", name, s.JWTAlg())
		}
		if err := s.Target("http://127.0.0.1:1").Validate(); err != nil {
			t.Errorf("%s: target: %v", name, err)
		}
	}
}

func withEnvMap(kv []string) map[string]string {
	if kv == nil {
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestRS256KeyConfusionRejected(t *testing.T) {
	e := newEnv(t, spec.Iotistica, withEnv("JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM))
	expect(t, e.get("/agents", bearerH(e.admin())), 200, "RS256 token")
	forged := forgeHS(t, e.tg.Control.JWTPublicKey, e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
	expect(t, e.get("/agents", bearerH(forged)), 401, "HS256 with public key")
}

func TestRoboticksRefresh(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	tok := e.admin()
	e.clk.Advance(30 * time.Minute)
	r := e.do(http.MethodPost, "/auth/refresh", bearerH(tok), "")
	expect(t, r, 200, "refresh before expiry")
	if r.h.Get("Cache-Control") != "no-store" {
		t.Error("refresh without no-store")
	}
	fresh := r.json(t)["access_token"].(string)
	e.clk.Advance(time.Hour)
	expect(t, e.do(http.MethodPost, "/auth/refresh", bearerH(tok), ""), 401, "refresh after expiry")
	expect(t, e.get("/organizations/acme/devices", bearerH(fresh)), 200, "refreshed token")
	expect(t, e.do(http.MethodPost, "/auth/refresh", nil, ""), 401, "refresh without token")
}

func iotLogin(e *env) (access, refresh string) {
	r := e.do(http.MethodPost, "/auth/login", nil, `{"email":"user@example.com","password":"your-password"}`)
	m := r.json(e.t)
	return m["accessToken"].(string), m["refreshToken"].(string)
}

func refreshBody(tok string) string { return `{"refreshToken":"` + tok + `"}` }

func TestIotisticaRefreshRotation(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	access, rt1 := iotLogin(e)
	expect(t, e.get("/agents", bearerH(rt1)), 401, "refresh token as access token")
	expect(t, e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(access)), 401, "access token as refresh token")
	expect(t, e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(e.tg.Control.LicenseToken)), 401, "license as refresh token")
	r := e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt1))
	expect(t, r, 200, "first refresh")
	rt2 := r.json(t)["refreshToken"].(string)
	expect(t, e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt1)), 401, "reuse of rotated token")
	expect(t, e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt2)), 401, "family revoked")
}

func TestIotisticaParallelRefresh(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	_, rt := iotLogin(e)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt)).code == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() > 1 {
		t.Fatalf("%d parallel refreshes succeeded, want at most 1", ok.Load())
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	a := e.do(http.MethodPost, "/auth/login", nil, `{"email":"user@example.com","password":"wrong"}`)
	b := e.do(http.MethodPost, "/auth/login", nil, `{"email":"nobody@example.com","password":"wrong"}`)
	expect(t, a, 401, "wrong password")
	expect(t, b, 401, "unknown user")
	if string(a.body) != string(b.body) {
		t.Fatalf("bodies differ: %s vs %s", a.body, b.body)
	}
}

func TestRateLimitHeadersAndReset(t *testing.T) {
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			h, path := e.key(e.tg.RateLimited.APIKey), e.protected()
			if p == spec.Iotistica {
				h, path = devH(e.tg.RateLimited.APIKey), "/device/"+fixtures.AgentUUIDLimited+"/state"
			}
			var reset string
			for i := 1; i <= 10; i++ {
				r := e.get(path, h)
				expect(t, r, 200, fmt.Sprintf("request %d", i))
				if r.h.Get(spec.HeaderRateLimit) != "10" || r.h.Get(spec.HeaderRateRemaining) != strconv.Itoa(10-i) {
					t.Fatalf("request %d: headers %v", i, r.h)
				}
				if reset == "" {
					reset = r.h.Get(spec.HeaderRateReset)
				} else if reset != r.h.Get(spec.HeaderRateReset) {
					t.Fatal("reset moved within a window")
				}
			}
			r := e.get(path, h)
			expect(t, r, 429, "over limit")
			if err := e.p.Err429.Match(r.body); err != nil {
				t.Fatal(err)
			}
			ra, _ := spec.Int(r.body, "retry_after")
			if r.h.Get("Retry-After") != strconv.FormatInt(ra, 10) || ra < 1 {
				t.Fatalf("retry_after %d vs header %q", ra, r.h.Get("Retry-After"))
			}
			// another principal is unaffected
			expect(t, e.get(e.protected(), e.adminCred()), 200, "other principal")
			e.clk.Advance(2 * time.Second)
			r = e.get(path, h)
			expect(t, r, 200, "after reset")
			if r.h.Get(spec.HeaderRateRemaining) != "9" {
				t.Fatalf("after reset remaining %s", r.h.Get(spec.HeaderRateRemaining))
			}
		})
	}
}

func TestRateLimitExactUnderConcurrency(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	h := e.key(e.tg.RateLimited.APIKey)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e.get(e.protected(), h).code == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("%d admitted, want exactly 10", ok.Load())
	}
}

func TestInvalidKeysDoNotSpendBudget(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	k := e.tg.RateLimited.APIKey
	for range 50 {
		e.get(e.protected(), hdr("Authorization", "Bearer "+k[:len(k)-2]+"zz", "X-Forwarded-For", "10.0.0.1"))
	}
	r := e.get(e.protected(), e.key(k))
	expect(t, r, 200, "victim")
	if r.h.Get(spec.HeaderRateRemaining) != "9" {
		t.Fatalf("remaining %s", r.h.Get(spec.HeaderRateRemaining))
	}
}

func TestTenancy(t *testing.T) {
	type row struct {
		p    spec.ProfileName
		who  string // admin | member | outsider
		path string
		want int
	}
	rows := []row{
		{spec.Roboticks, "admin", "/organizations/acme/projects/lab/devices", 200},
		{spec.Roboticks, "member", "/organizations/acme/projects/warehouse/devices", 200},
		{spec.Roboticks, "member", "/organizations/acme/projects/lab/devices", 403},
		{spec.Roboticks, "outsider", "/organizations/acme/devices", 403},
		{spec.Roboticks, "outsider", "/organizations/nonexistent/devices", 403},
		{spec.Roboticks, "admin", "/organizations/globex/projects/foundry/devices", 403},
		{spec.Rigbox, "admin", "/workspaces/ws_acme_prod", 200},
		{spec.Rigbox, "member", "/workspaces/ws_acme_prod", 403},
		{spec.Rigbox, "member", "/workspaces/ws_acme_dev", 200},
		{spec.Rigbox, "outsider", "/workspaces/ws_acme_prod", 403},
		{spec.Rigbox, "admin", "/workspaces/ws_globex_main", 403},
		{spec.Rigbox, "admin", "/workspaces/nope", 403},
		{spec.RequestRocket, "admin", "/clients/cl-acme-billing", 200},
		{spec.RequestRocket, "member", "/clients/cl-acme-billing", 403},
		{spec.RequestRocket, "member", "/clients/cl-acme-sandbox", 200},
		{spec.RequestRocket, "admin", "/clients/cl-globex-erp", 403},
		{spec.RequestRocket, "admin", "/clients/nope", 403},
		{spec.Iotistica, "admin", "/agents/" + fixtures.AgentUUID1, 200},
		{spec.Iotistica, "outsider", "/agents/" + fixtures.AgentUUID1, 403},
		{spec.Iotistica, "admin", "/agents/" + fixtures.AgentUUIDGlobex, 403},
	}
	envs := map[spec.ProfileName]*env{}
	for _, r := range rows {
		e := envs[r.p]
		if e == nil {
			e = newEnv(t, r.p)
			envs[r.p] = e
		}
		var h http.Header
		pr := map[string]spec.Principal{"admin": e.tg.Principals.Admin, "member": e.tg.Principals.Member, "outsider": e.tg.Principals.Outsider}[r.who]
		if e.p.UserKeyPrefix != "" {
			h = e.key(pr.APIKey)
		} else {
			h = bearerH(e.login(pr.Email, pr.Password))
		}
		res := e.get(r.path, h)
		expect(t, res, r.want, fmt.Sprintf("%s %s %s", r.p, r.who, r.path))
		if r.want == 403 {
			if err := e.p.Err403.Match(res.body); err != nil {
				t.Error(err)
			}
		}
	}
	e := newEnv(t, spec.Iotistica)
	expect(t, e.get("/device/"+fixtures.AgentUUID2+"/state", devH(e.tg.Devices[0].APIKey)), 403, "device A on B")
}

func TestKeyLifecycle(t *testing.T) {
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox, spec.RequestRocket} {
		t.Run(string(p), func(t *testing.T) {
			e := newEnv(t, p)
			ke := e.p.Keys
			member := e.key(e.tg.Principals.Member.APIKey)
			r := e.do(http.MethodPost, ke.Create, member, `{"name":"ci"}`)
			expect(t, r, 201, "create")
			if r.h.Get("Cache-Control") != "no-store" {
				t.Error("create without no-store")
			}
			m := r.json(t)
			secret, id := m[ke.SecretJSON].(string), m[ke.IDJSON].(string)
			if !strings.HasPrefix(secret, e.p.UserKeyPrefix) || len(secret) < len(e.p.UserKeyPrefix)+43 {
				t.Fatalf("secret shape %q", secret[:len(e.p.UserKeyPrefix)])
			}
			if ke.List != "" {
				l := e.get(ke.List, member)
				expect(t, l, 200, "list")
				if strings.Contains(string(l.body), secret) || !strings.Contains(string(l.body), id) {
					t.Fatal("listing leaks the secret or lacks the key")
				}
			}
			expect(t, e.get(e.protected(), e.key(secret)), 200, "new key works")
			expect(t, e.do(http.MethodDelete, ke.Delete+"/"+id, e.key(e.tg.Principals.Outsider.APIKey), ""), 403, "foreign delete")
			expect(t, e.do(http.MethodDelete, ke.Delete+"/nope", member, ""), 403, "unknown delete")
			expect(t, e.do(http.MethodDelete, ke.Delete+"/"+id, member, ""), 204, "delete")
			expect(t, e.get(e.protected(), e.key(secret)), 401, "revoked on next request")
		})
	}
}

func mintProv(e *env, tok, body string) string {
	r := e.do(http.MethodPost, "/provision/keys", bearerH(tok), body)
	if r.code != 201 {
		e.t.Fatalf("provision key: %d %s", r.code, r.body)
	}
	return r.json(e.t)["key"].(string)
}

func redeem(e *env, key string) resp {
	return e.do(http.MethodPost, "/provision/agent", nil, `{"key":"`+key+`","agentName":"gw"}`)
}

func TestProvisioning(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	admin, member := e.admin(), e.member()
	expect(t, e.do(http.MethodPost, "/provision/keys", bearerH(member), ""), 403, "member")
	expect(t, e.do(http.MethodPost, "/provision/keys", nil, ""), 401, "none")
	expect(t, e.do(http.MethodPost, "/provision/keys", devH(e.tg.Devices[0].APIKey), ""), 403, "device key")
	expect(t, e.do(http.MethodPost, "/provision/keys", bearerH(admin), `{"ttlSeconds":0}`), 400, "bad ttl")
	k := mintProv(e, admin, "")
	expect(t, e.get("/device/"+fixtures.AgentUUID1+"/state", devH(k)), 401, "prov key as device key")
	expect(t, e.get("/agents", bearerH(k)), 401, "prov key as bearer")
	expect(t, redeem(e, k), 201, "redeem")
	expect(t, redeem(e, k), 401, "redeem again")
	short := mintProv(e, admin, `{"ttlSeconds":1}`)
	e.clk.Advance(2 * time.Second)
	expect(t, redeem(e, short), 401, "expired")
	expect(t, redeem(e, "prov_nope"), 401, "unknown")
	expect(t, e.do(http.MethodPost, "/provision/agent", nil, `{"agentName":"x"}`), 401, "no key")
	expect(t, e.do(http.MethodPost, "/provision/agent", nil, `{`), 400, "bad json")

	expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(member), `{"name":"x","agentUuid":"`+fixtures.AgentUUID1+`"}`), 403, "member device key")
	expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"x","agentUuid":"`+fixtures.AgentUUIDGlobex+`"}`), 403, "foreign agent")
	expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"x","agentUuid":"not-a-uuid"}`), 400, "bad uuid")
}

func TestProvisioningSingleUseUnderParallelRedemption(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	k := mintProv(e, e.admin(), "")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if redeem(e, k).code == 201 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d redemptions succeeded, want exactly 1", ok.Load())
	}
}

func mqttPost(e *env, path, body, ct string) int {
	h := hdr("Content-Type", ct)
	return e.do(http.MethodPost, "/mosquitto-auth/"+path, h, body).code
}

func TestMQTTAuth(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	d := e.tg.Devices[0]
	js := func(u, p, c string) string {
		return fmt.Sprintf(`{"username":%q,"password":%q,"clientid":%q}`, u, p, c)
	}
	form := func(u, p, c string) string {
		return "username=" + u + "&password=" + p + "&clientid=" + c
	}
	const J, F = "application/json", "application/x-www-form-urlencoded"
	cases := []struct {
		name string
		path string
		body string
		ct   string
		want int
	}{
		{"json ok", "user", js(d.APIKey, d.MQTTPassword, "agent-"+d.UUID), J, 200},
		{"form ok", "user", form(d.APIKey, d.MQTTPassword, "agent-"+d.UUID), F, 200},
		{"wrong password", "user", js(d.APIKey, "nope", "agent-"+d.UUID), J, 403},
		{"other device's password", "user", js(d.APIKey, e.tg.Devices[1].MQTTPassword, "agent-"+d.UUID), J, 403},
		{"unknown key", "user", js("iotsk_live_nope", d.MQTTPassword, "agent-"+d.UUID), J, 403},
		{"no username", "user", js("", d.MQTTPassword, "agent-"+d.UUID), J, 403},
		{"other clientid", "user", js(d.APIKey, d.MQTTPassword, "agent-"+e.tg.Devices[1].UUID), J, 403},
		{"revoked", "user", js(e.tg.RevokedKey, "mqtt-BT2sHFFYIYvf5S2lcAkVCFzCfyPAegBRwHJ78XwhefE", "agent-"+fixtures.AgentUUIDRevoked), J, 403},
		{"bad json", "user", "{", J, 403},
		{"superuser", "superuser", `{"username":"` + d.APIKey + `"}`, J, 403},
		{"acl own publish", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"agents/` + d.UUID + `/telemetry","acc":2}`, J, 200},
		{"acl own root", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"agents/` + d.UUID + `","acc":"1"}`, J, 200},
		{"acl own subscribe wildcard form", "acl", "username=" + d.APIKey + "&clientid=agent-" + d.UUID + "&topic=agents/" + d.UUID + "/%23&acc=4", F, 200},
		{"acl other device", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"agents/` + e.tg.Devices[1].UUID + `/x","acc":2}`, J, 403},
		{"acl prefix trick", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"agents/` + d.UUID + `x/y","acc":2}`, J, 403},
		{"acl all", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"#","acc":4}`, J, 403},
		{"acl bad acc", "acl", `{"username":"` + d.APIKey + `","clientid":"agent-` + d.UUID + `","topic":"agents/` + d.UUID + `/x","acc":8}`, J, 403},
	}
	for _, c := range cases {
		if got := mqttPost(e, c.path, c.body, c.ct); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// revocation is effective on the next connect
	admin := e.admin()
	r := e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"tmp","agentUuid":"`+d.UUID+`"}`)
	expect(t, r, 201, "new key")
	m := r.json(t)
	if got := mqttPost(e, "user", js(m["apiKey"].(string), m["mqttPassword"].(string), "agent-"+d.UUID), J); got != 200 {
		t.Fatalf("new key connect: %d", got)
	}
	expect(t, e.do(http.MethodDelete, "/auth/api-keys/"+m["id"].(string), bearerH(admin), ""), 204, "revoke")
	if got := mqttPost(e, "user", js(m["apiKey"].(string), m["mqttPassword"].(string), "agent-"+d.UUID), J); got != 403 {
		t.Fatalf("revoked key connect: %d", got)
	}
	expect(t, e.get("/device/"+d.UUID+"/state", devH(m["apiKey"].(string))), 401, "revoked key HTTP")
}

func licenseEnv(t *testing.T, tok string) func(*Config) {
	return withEnv("LICENSE_KEY", tok)
}

func mint(t *testing.T, l fixtures.License) string {
	s, err := fixtures.MintLicense(l, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLicenseRestrictedMode(t *testing.T) {
	now := newClock().Now()
	expired := fixtures.DefaultLicense(now.Add(-2 * 365 * 24 * time.Hour))
	foreign, _ := fixtures.MintLicense(fixtures.DefaultLicense(now), fixtures.ForeignLicensePrivateKey())
	for name, tok := range map[string]string{
		"missing":    "",
		"expired":    mint(t, expired),
		"foreign":    foreign,
		"alg none":   fixtures.MintAlgNoneLicense(fixtures.DefaultLicense(now)),
		"garbage":    "not-a-jwt",
		"no exp":     mint(t, fixtures.License{MaxDevices: 100, Features: fixtures.AllFeatures, IssuedAt: now}),
		"access jwt": forgeHS(t, fixtures.JWTSecret, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}),
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, spec.Iotistica, licenseEnv(t, tok))
			d := e.tg.Devices[0]
			expect(t, e.get("/device/"+d.UUID+"/state", devH(d.APIKey)), 200, "existing device HTTP")
			if got := mqttPost(e, "user", fmt.Sprintf(`{"username":%q,"password":%q,"clientid":"agent-%s"}`, d.APIKey, d.MQTTPassword, d.UUID), "application/json"); got != 200 {
				t.Fatalf("existing device MQTT: %d", got)
			}
			admin := e.admin()
			expect(t, redeem(e, mintProv(e, admin, "")), 403, "registration")
			expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"new"}`), 403, "new agent via api-keys")
			expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"extra","agentUuid":"`+d.UUID+`"}`), 201, "key for existing agent")
			for _, p := range []string{"/export/csv", "/anomaly/rules", "/ai/suggestions"} {
				expect(t, e.get(p, bearerH(admin)), 403, p)
			}
			lic := e.get("/license", bearerH(admin)).json(t)
			if lic["mode"] != "restricted" {
				t.Fatalf("license info %v", lic)
			}
		})
	}
}

func TestLicenseFeaturesAndLimit(t *testing.T) {
	now := newClock().Now()
	tok := mint(t, fixtures.License{MaxDevices: 5, Features: fixtures.Features{DataExport: true}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	e := newEnv(t, spec.Iotistica, licenseEnv(t, tok))
	admin := e.admin()
	expect(t, e.get("/export/csv", bearerH(admin)), 200, "licensed feature")
	expect(t, e.get("/anomaly/rules", bearerH(admin)), 403, "unlicensed anomaly")
	expect(t, e.get("/ai/suggestions", bearerH(admin)), 403, "unlicensed ai")
	// acme has 3 active agents; 5 allowed: two more succeed, the next fails
	expect(t, redeem(e, mintProv(e, admin, "")), 201, "4th")
	expect(t, e.do(http.MethodPost, "/auth/api-keys", bearerH(admin), `{"name":"fifth"}`), 201, "5th")
	expect(t, redeem(e, mintProv(e, admin, "")), 403, "6th")
	info := e.get("/license", bearerH(admin)).json(t)
	if info["devices"] != float64(5) || info["maxDevices"] != float64(5) {
		t.Fatalf("license info %v", info)
	}
}

func TestLicenseLimitExactUnderParallelRegistrations(t *testing.T) {
	now := newClock().Now()
	tok := mint(t, fixtures.License{MaxDevices: 4, Features: fixtures.AllFeatures, IssuedAt: now, ExpiresAt: now.Add(time.Hour)})
	e := newEnv(t, spec.Iotistica, licenseEnv(t, tok))
	admin := e.admin()
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = mintProv(e, admin, "")
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if redeem(e, k).code == 201 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d registrations succeeded at maxDevices-1, want exactly 1", ok.Load())
	}
}

func TestStartServesAndCloses(t *testing.T) {
	r, err := Start(t.Context(), Config{Profile: spec.Rigbox}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(r.URL + "/api/capacity")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("capacity %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/api/workspaces", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 64<<10))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("64 KiB header over the wire: %d", res.StatusCode)
	}
	if err := r.Target.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownFault(t *testing.T) {
	_, err := New(Config{Profile: spec.Roboticks, Faults: []string{"nope"}})
	if !errors.Is(err, ErrUnknownFault) {
		t.Fatalf("err %v", err)
	}
	if _, err := New(Config{Profile: "nope"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown profile err %v", err)
	}
}
