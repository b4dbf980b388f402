package reference

import (
	"net/http"
	"testing"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// The fuzz targets assert that no credential, however malformed, makes the
// reference panic or answer 5xx.

func check4xx(t *testing.T, r resp, what string) {
	if r.code >= 500 {
		t.Fatalf("%s: status %d", what, r.code)
	}
}

func FuzzAuthorizationHeader(f *testing.F) {
	d := fixtures.MustFor(spec.Roboticks)
	for _, s := range []string{"", "Bearer", "Bearer ", "bearer x", "Bearer " + d.Keys[0].Secret, d.Keys[0].Secret,
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Basic dXNlcjpwYXNz", "Bearer \x00", "Bearer \xff", "u-abc", "Bearer a.b.c.d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, p := range spec.AllProfiles {
			e := newEnv(t, p)
			check4xx(t, e.get(e.protected(), hdr("Authorization", v)), string(p))
			if p == spec.Roboticks {
				check4xx(t, e.do(http.MethodPost, "/auth/refresh", hdr("Authorization", v), ""), "refresh")
			}
		}
	})
}

func FuzzAPIKeyHeaders(f *testing.F) {
	for _, s := range []string{"", "rbtk_", "rbtk_x", fixtures.MustFor(spec.Roboticks).Keys[0].Secret, "iotsk_live_", fixtures.MustFor(spec.Iotistica).Agents[0].APIKey, "\x00", "prov_abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e := newEnv(t, spec.Roboticks)
		check4xx(t, e.get(e.protected(), hdr("X-API-Key", v)), "x-api-key")
		i := newEnv(t, spec.Iotistica)
		check4xx(t, i.get("/device/"+fixtures.AgentUUID1+"/state", devH(v)), "device key")
		check4xx(t, i.do(http.MethodPost, "/mosquitto-auth/user", nil, `{"username":"`+v+`","password":"x","clientid":"y"}`), "mqtt")
	})
}

func FuzzJWT(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c3JfYWRtaW4ifQ.sig")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c3JfYWRtaW4iLCJ0b2tlbl91c2UiOiJhY2Nlc3MifQ.")
	f.Add("e30.e30.")
	f.Add("....")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		e := newEnv(t, spec.Iotistica, withFaults(FaultAcceptAlgNone, FaultSkipSignatureCheck))
		check4xx(t, e.get("/agents", bearerH(tok)), "bearer")
		check4xx(t, e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(tok)), "refresh")
		n := newEnv(t, spec.Iotistica)
		if r := n.get("/agents", bearerH(tok)); r.code != 401 {
			t.Fatalf("forged token accepted: %d", r.code)
		}
	})
}

func FuzzJSONBodies(f *testing.F) {
	for _, s := range []string{"{", "{}", `{"email":"user@example.com","password":"x"}`, `{"key":"prov_x"}`, `{"ttlSeconds":-1}`, `{"acc":"x"}`, "null", "[1,2]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		e := newEnv(t, spec.Iotistica)
		for _, path := range []string{"/auth/login", "/auth/refresh", "/provision/agent", "/mosquitto-auth/user", "/mosquitto-auth/acl"} {
			check4xx(t, e.do(http.MethodPost, path, nil, body), path)
		}
	})
}
