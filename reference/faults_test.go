package reference

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
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

// parallel runs f n times concurrently and counts true results.
func parallel(n int, f func() bool) int {
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if f() {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(ok.Load())
}

func limitedLicense(max int) func(*Config) {
	now := newClock().Now()
	tok, err := fixtures.MintLicense(fixtures.License{MaxDevices: max, Features: fixtures.AllFeatures, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil)
	if err != nil {
		panic(err)
	}
	return withEnv("LICENSE_KEY", tok)
}

// faultProbe observes one fault: defect reports whether the deliberate
// defect is visible. It must be false without the fault and true with it.
type faultProbe struct {
	profile spec.ProfileName
	mods    []func(*Config)
	defect  func(e *env) bool
}

func mqttUserBody(u, p, c string) string {
	return fmt.Sprintf(`{"username":%q,"password":%q,"clientid":%q}`, u, p, c)
}

var faultProbes = map[string]faultProbe{
	FaultRejectAltTransport: {spec.Roboticks, nil, func(e *env) bool {
		return e.get(e.protected(), hdr("X-API-Key", e.tg.Principals.Admin.APIKey)).code != 200
	}},
	FaultKeyPrefixMatch: {spec.Roboticks, nil, func(e *env) bool {
		k := e.tg.Principals.Admin.APIKey
		return e.get(e.protected(), e.key(k[:len(k)-3])).code == 200
	}},
	FaultWrongErrorBody: {spec.Roboticks, nil, func(e *env) bool {
		return e.p.Err401Missing.Match(e.get(e.protected(), nil).body) != nil
	}},
	FaultPanicOnLongHeader: {spec.Rigbox, nil, func(e *env) bool {
		return e.get(e.protected(), hdr("X-Padding", strings.Repeat("p", 9000))).code >= 500
	}},
	FaultPublicNeedsAuth: {spec.Rigbox, nil, func(e *env) bool { return e.get("/capacity", nil).code != 200 }},
	FaultListLeaksSecret: {spec.Roboticks, nil, func(e *env) bool {
		h := e.key(e.tg.Principals.Admin.APIKey)
		secret := e.do(http.MethodPost, "/api-keys", h, `{"name":"x"}`).json(e.t)["key"].(string)
		return strings.Contains(string(e.get("/api-keys", h).body), secret)
	}},
	FaultRevocationIgnored: {spec.Roboticks, nil, func(e *env) bool {
		return e.get(e.protected(), e.key(e.tg.RevokedKey)).code == 200
	}},
	FaultIgnoreProjectACL: {spec.Roboticks, nil, func(e *env) bool {
		return e.get("/organizations/acme/projects/lab/devices", e.key(e.tg.Principals.Member.APIKey)).code == 200
	}},
	FaultKeyScopeMismatch: {spec.Roboticks, nil, func(e *env) bool {
		return e.get("/organizations/acme/projects/warehouse/devices", e.key(e.tg.Principals.Member.APIKey)).code == 403
	}},
	FaultLoginUserOracle: {spec.Roboticks, nil, func(e *env) bool {
		return e.do(http.MethodPost, "/auth/login", nil, `{"email":"ghost@example.com","password":"x"}`).code != 401
	}},
	FaultWrongTokenLifetime: {spec.Roboticks, nil, func(e *env) bool {
		var c tokenClaims
		_, _, _ = jwt.NewParser().ParseUnverified(e.admin(), &c)
		return c.ExpiresAt.Sub(c.IssuedAt.Time) != time.Hour
	}},
	FaultAcceptAlgNone: {spec.Roboticks, nil, func(e *env) bool {
		tk := jwt.NewWithClaims(jwt.SigningMethodNone, e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		tk.Header["alg"] = "NONE"
		s, _ := tk.SigningString()
		return e.get(e.protected(), bearerH(s+".")).code == 200
	}},
	FaultRS256KeyConfusion: {spec.Iotistica, []func(*Config){withEnv("JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM)}, func(e *env) bool {
		tok := forgeHS(e.t, e.tg.Control.JWTPublicKey, e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		return e.get("/agents", bearerH(tok)).code == 200
	}},
	FaultSkipSignatureCheck: {spec.Roboticks, nil, func(e *env) bool {
		tok := forgeHS(e.t, "attacker-secret-attacker-secret-attacker", e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		return e.get(e.protected(), bearerH(tok)).code == 200
	}},
	FaultAcceptExpiredJWT: {spec.Roboticks, nil, func(e *env) bool {
		tok := forgeHS(e.t, fixtures.JWTSecret, e.accessClaims(fixtures.AdminID, e.clk.Now().Add(-3*time.Hour), time.Hour))
		return e.get(e.protected(), bearerH(tok)).code == 200
	}},
	FaultJWEUnsignedInner: {spec.Iotistica, []func(*Config){withEnv("JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM)}, func(e *env) bool {
		tk := jwt.NewWithClaims(jwt.SigningMethodNone, e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		inner, _ := tk.SigningString()
		pub, _ := jwt.ParseRSAPublicKeyFromPEM([]byte(fixtures.JWTPublicKeyPEM))
		return e.get("/agents", bearerH(sealJWE(e.t, pub, inner+"."))).code == 200
	}},
	FaultExpTypeUnchecked: {spec.Roboticks, nil, func(e *env) bool {
		c := e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour)
		c["exp"] = fmt.Sprint(e.clk.Now().Add(-time.Hour).Unix()) // a string, in the past
		return e.get(e.protected(), bearerH(forgeHS(e.t, fixtures.JWTSecret, c))).code == 200
	}},
	FaultRS256HMACFallback: {spec.Iotistica, []func(*Config){withEnv("JWT_PUBLIC_KEY", fixtures.JWTPublicKeyPEM, "JWT_PRIVATE_KEY", fixtures.JWTPrivateKeyPEM)}, func(e *env) bool {
		tok := forgeHS(e.t, "secret", e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		return e.get("/agents", bearerH(tok)).code == 200
	}},
	FaultIgnoreCrit: {spec.Roboticks, nil, func(e *env) bool {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, e.accessClaims(fixtures.AdminID, e.clk.Now(), time.Hour))
		tk.Header["crit"] = []string{"x-unknown"}
		tk.Header["x-unknown"] = true
		s, err := tk.SignedString([]byte(fixtures.JWTSecret))
		if err != nil {
			e.t.Fatal(err)
		}
		return e.get(e.protected(), bearerH(s)).code == 200
	}},
	FaultRefreshAcceptsAccessToken: {spec.Iotistica, nil, func(e *env) bool {
		access, _ := iotLogin(e)
		return e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(access)).code == 200
	}},
	FaultRefreshExpiredToken: {spec.Roboticks, nil, func(e *env) bool {
		tok := e.admin()
		e.clk.Advance(2 * time.Hour)
		return e.do(http.MethodPost, "/auth/refresh", bearerH(tok), "").code == 200
	}},
	FaultNoRateLimitHeaders: {spec.Roboticks, nil, func(e *env) bool {
		return e.get(e.protected(), e.adminCred()).h.Get(spec.HeaderRateRemaining) == ""
	}},
	FaultResetDeltaSeconds: {spec.Roboticks, nil, func(e *env) bool {
		reset, err := strconv.ParseInt(e.get(e.protected(), e.key(e.tg.RateLimited.APIKey)).h.Get(spec.HeaderRateReset), 10, 64)
		return err == nil && reset < 366*24*3600 // a delay, not a Unix time
	}},
	FaultResetNextWindow: {spec.Roboticks, nil, func(e *env) bool {
		// The key's window is 2 s: its Reset is at most 3 s away (whole
		// seconds, rounded up), one window later with the fault.
		reset, err := strconv.ParseInt(e.get(e.protected(), e.key(e.tg.RateLimited.APIKey)).h.Get(spec.HeaderRateReset), 10, 64)
		return err == nil && reset-e.clk.Now().Unix() > 3
	}},
	FaultRemainingOffByOne: {spec.Roboticks, nil, func(e *env) bool {
		return e.get(e.protected(), e.key(e.tg.RateLimited.APIKey)).h.Get(spec.HeaderRateRemaining) != "9"
	}},
	FaultRateLimitWrongBody: {spec.Roboticks, nil, func(e *env) bool {
		var r resp
		for range 11 {
			r = e.get(e.protected(), e.key(e.tg.RateLimited.APIKey))
		}
		return r.code != 429 || e.p.Err429.Match(r.body) != nil
	}},
	FaultGlobalRateLimit: {spec.Roboticks, nil, func(e *env) bool {
		for range 11 {
			e.get(e.protected(), e.key(e.tg.RateLimited.APIKey))
		}
		return e.get(e.protected(), e.adminCred()).code == 429
	}},
	FaultRateLimitUnrestrictedKeys: {spec.Roboticks, nil, func(e *env) bool {
		var r resp
		for range 3 {
			r = e.get(e.protected(), e.adminCred())
		}
		return r.code == 429
	}},
	FaultRacyRateLimiter: {spec.Roboticks, nil, func(e *env) bool {
		h := e.key(e.tg.RateLimited.APIKey)
		return parallel(100, func() bool { return e.get(e.protected(), h).code == 200 }) > 10
	}},
	FaultRateLimitNeverResets: {spec.Roboticks, nil, func(e *env) bool {
		for range 11 {
			e.get(e.protected(), e.key(e.tg.RateLimited.APIKey))
		}
		e.clk.Advance(5 * time.Second)
		return e.get(e.protected(), e.key(e.tg.RateLimited.APIKey)).code == 429
	}},
	FaultLeakCrossTenant: {spec.Roboticks, nil, func(e *env) bool {
		return e.get("/organizations/acme/devices", e.key(e.tg.Principals.Outsider.APIKey)).code == 200
	}},
	FaultDeviceStateAnyKey: {spec.Iotistica, nil, func(e *env) bool {
		return e.get("/device/"+e.tg.Devices[1].UUID+"/state", devH(e.tg.Devices[0].APIKey)).code == 200
	}},
	FaultMemberCanProvision: {spec.Iotistica, nil, func(e *env) bool {
		return e.do(http.MethodPost, "/provision/keys", bearerH(e.member()), "").code == 201
	}},
	FaultProvisionedKeyInactive: {spec.Iotistica, nil, func(e *env) bool {
		m := redeem(e, mintProv(e, e.admin(), "")).json(e.t)
		return e.get("/device/"+m["agentUuid"].(string)+"/state", devH(m["apiKey"].(string))).code != 200
	}},
	FaultReusableProvisioningKey: {spec.Iotistica, nil, func(e *env) bool {
		k := mintProv(e, e.admin(), "")
		redeem(e, k)
		return redeem(e, k).code == 201
	}},
	FaultRacyProvisioning: {spec.Iotistica, nil, func(e *env) bool {
		k := mintProv(e, e.admin(), "")
		return parallel(50, func() bool { return redeem(e, k).code == 201 }) > 1
	}},
	FaultProvisioningNeverExpires: {spec.Iotistica, nil, func(e *env) bool {
		k := mintProv(e, e.admin(), `{"ttlSeconds":1}`)
		e.clk.Advance(time.Minute)
		return redeem(e, k).code == 201
	}},
	FaultMemberCanCreateDeviceKey: {spec.Iotistica, nil, func(e *env) bool {
		return e.do(http.MethodPost, "/auth/api-keys", bearerH(e.member()), `{"name":"x","agentUuid":"`+fixtures.AgentUUID1+`"}`).code == 201
	}},
	FaultMQTTRejectValid: {spec.Iotistica, nil, func(e *env) bool {
		d := e.tg.Devices[0]
		return mqttPost(e, "user", mqttUserBody(d.APIKey, d.MQTTPassword, "agent-"+d.UUID), "application/json") != 200
	}},
	FaultMQTTIgnorePassword: {spec.Iotistica, nil, func(e *env) bool {
		d := e.tg.Devices[0]
		return mqttPost(e, "user", mqttUserBody(d.APIKey, "wrong", "agent-"+d.UUID), "application/json") == 200
	}},
	FaultMQTTRevocationIgnored: {spec.Iotistica, nil, func(e *env) bool {
		a := fixtures.MustFor(spec.Iotistica).Agents[4]
		return mqttPost(e, "user", mqttUserBody(a.APIKey, a.MQTTPassword, "agent-"+a.UUID), "application/json") == 200
	}},
	FaultMQTTWeakConnect: {spec.Iotistica, nil, func(e *env) bool {
		d := e.tg.Devices[0]
		return mqttPost(e, "user", mqttUserBody(d.APIKey, "wrong", "someone-else"), "application/json") == 200
	}},
	FaultMQTTACLOpen: {spec.Iotistica, nil, func(e *env) bool {
		d := e.tg.Devices[0]
		body := fmt.Sprintf(`{"username":%q,"clientid":"agent-%s","topic":"agents/%s/x","acc":2}`, d.APIKey, d.UUID, e.tg.Devices[1].UUID)
		return mqttPost(e, "acl", body, "application/json") == 200
	}},
	FaultLicenseLimitOffByOne: {spec.Iotistica, []func(*Config){limitedLicense(4)}, func(e *env) bool {
		admin := e.admin()
		redeem(e, mintProv(e, admin, ""))
		return redeem(e, mintProv(e, admin, "")).code == 201
	}},
	FaultLicenseLimitRacy: {spec.Iotistica, []func(*Config){limitedLicense(4)}, func(e *env) bool {
		admin := e.admin()
		keys := make(chan string, 20)
		for range 20 {
			keys <- mintProv(e, admin, "")
		}
		return parallel(20, func() bool { return redeem(e, <-keys).code == 201 }) > 1
	}},
	FaultLicenseUnchecked: {spec.Iotistica, []func(*Config){func(c *Config) {
		tok, _ := fixtures.MintLicense(fixtures.DefaultLicense(newClock().Now()), fixtures.ForeignLicensePrivateKey())
		withEnv("LICENSE_KEY", tok)(c)
	}}, func(e *env) bool { return e.get("/export/csv", bearerH(e.admin())).code == 200 }},
	FaultLicenseFeaturesIgnored: {spec.Iotistica, []func(*Config){func(c *Config) {
		now := newClock().Now()
		tok, _ := fixtures.MintLicense(fixtures.License{MaxDevices: 100, Features: fixtures.Features{AI: true}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil)
		withEnv("LICENSE_KEY", tok)(c)
	}}, func(e *env) bool { return e.get("/export/csv", bearerH(e.admin())).code == 200 }},
}

// sealJWE encrypts plaintext as a compact JWE (RSA-OAEP-256, A256GCM)
// for pub.
func sealJWE(t *testing.T, pub *rsa.PublicKey, plaintext string) string {
	t.Helper()
	cek, iv := make([]byte, 32), make([]byte, 12)
	_, _ = rand.Read(cek)
	_, _ = rand.Read(iv)
	ek, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, cek, nil)
	if err != nil {
		t.Fatal(err)
	}
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}`))
	blk, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(blk)
	sealed := gcm.Seal(nil, iv, []byte(plaintext), []byte(hdr))
	ct, tag := sealed[:len(sealed)-gcm.Overhead()], sealed[len(sealed)-gcm.Overhead():]
	b := base64.RawURLEncoding.EncodeToString
	return hdr + "." + b(ek) + "." + b(iv) + "." + b(ct) + "." + b(tag)
}

func TestEveryFaultChangesBehaviour(t *testing.T) {
	for _, f := range Faults() {
		t.Run(f.Name, func(t *testing.T) {
			pr, ok := faultProbes[f.Name]
			if !ok {
				if len(f.Profiles) == 0 {
					t.Skip("implemented outside the reference")
				}
				t.Fatal("no probe for this fault")
			}
			if !slices.Contains(f.Profiles, pr.profile) {
				t.Fatalf("probe profile %s not in the fault's profiles %v", pr.profile, f.Profiles)
			}
			if e := newEnv(t, pr.profile, pr.mods...); pr.defect(e) {
				t.Fatal("defect visible without the fault")
			}
			mods := append(append([]func(*Config){}, pr.mods...), func(c *Config) { c.Faults = []string{f.Name} })
			if e := newEnv(t, pr.profile, mods...); !pr.defect(e) {
				t.Fatal("fault switched on but the defect is not visible")
			}
		})
	}
}

func TestEveryMustCheckHasAFault(t *testing.T) {
	have := map[string]bool{}
	for _, f := range Faults() {
		have[f.Check] = true // AlsoBreaks does not count: every MUST check needs its own fault
		for _, p := range f.Profiles {
			if c, _ := spec.Lookup(f.Check); !c.AppliesTo(p) {
				t.Errorf("%s: check %s does not apply to %s", f.Name, f.Check, p)
			}
		}
		if _, ok := spec.Lookup(f.Check); !ok {
			t.Errorf("%s names unknown check %s", f.Name, f.Check)
		}
	}
	for _, c := range spec.Catalogue() {
		must := c.Level == spec.MUST
		for _, l := range c.LevelIf {
			must = must || l == spec.MUST
		}
		if must && !have[c.ID] {
			t.Errorf("MUST check %s has no fault", c.ID)
		}
	}
	names := Faults()
	for i := 1; i < len(names); i++ {
		if names[i-1].Name >= names[i].Name {
			t.Fatal("Faults() not sorted or has duplicates")
		}
	}
}

func TestRefreshFaultOnRoboticks(t *testing.T) {
	for _, faulty := range []bool{false, true} {
		var mods []func(*Config)
		if faulty {
			mods = append(mods, withFaults(FaultRefreshAcceptsAccessToken))
		}
		e := newEnv(t, spec.Roboticks, mods...)
		got := e.do(http.MethodPost, "/auth/refresh", bearerH(e.tg.Principals.Admin.APIKey), "").code
		if (got == 200) != faulty {
			t.Errorf("fault %v: refresh with an API key -> %d", faulty, got)
		}
	}
}
