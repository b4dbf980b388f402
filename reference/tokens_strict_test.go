package reference

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// signRaw signs header.payload (raw JSON) with the fixtures' HS256 secret.
func signRaw(t *testing.T, header, payload string) string {
	t.Helper()
	b := base64.RawURLEncoding.EncodeToString
	in := b([]byte(header)) + "." + b([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(in, []byte(fixtures.JWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + b(sig)
}

// TestStrictTokens: what the reference refuses beyond golang-jwt's
// defaults (JWT-014, -016, -018), next to the same claims accepted.
func TestStrictTokens(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	now := e.clk.Now().Unix()
	iss := e.s.issuer()
	claims := func(exp, extra string) string {
		return `{"iss":"` + iss + `","sub":"` + fixtures.AdminID + `","token_use":"access","jti":"x","iat":` + itoa(now) + `,"exp":` + exp + extra + `}`
	}
	const hdr = `{"alg":"HS256","typ":"JWT"}`
	future := itoa(now + 3600)
	ok := signRaw(t, hdr, claims(future, ""))
	expect(t, e.get(e.protected(), bearerH(ok)), 200, "control")
	expect(t, e.get(e.protected(), bearerH(signRaw(t, hdr, claims(future+".5", "")))), 200, "float exp in the future (RFC 7519 NumericDate)")
	i := strings.LastIndex(ok, ".") + 1
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", ok[len(ok)-1])
	noncanon := ok[:len(ok)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
	if len(ok)-i != 43 || last&3 != 0 {
		t.Fatalf("unexpected signature length %d / last %d", len(ok)-i, last)
	}
	for name, tok := range map[string]string{
		"non-canonical signature": noncanon,
		"exp as a string":         signRaw(t, hdr, claims(`"`+future+`"`, "")),
		"exp null":                signRaw(t, hdr, claims(`null`, "")),
		"exp 1e20":                signRaw(t, hdr, claims(`1e20`, "")),
		"nbf 1e20":                signRaw(t, hdr, claims(future, `,"nbf":1e20`)),
		"nbf as a string":         signRaw(t, hdr, claims(future, `,"nbf":"`+itoa(now)+`"`)),
		"iat null":                signRaw(t, hdr, claims(future, `,"iat":null`)),
		"no typ":                  signRaw(t, `{"alg":"HS256"}`, claims(future, "")),
		"crit":                    signRaw(t, `{"alg":"HS256","typ":"JWT","crit":["x-unknown"],"x-unknown":1}`, claims(future, "")),
		"sub as an object":        signRaw(t, hdr, strings.Replace(claims(future, ""), `"sub":"`+fixtures.AdminID+`"`, `"sub":{"id":"`+fixtures.AdminID+`"}`, 1)),
	} {
		expect(t, e.get(e.protected(), bearerH(tok)), 401, name)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
