package reference

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

// The vendor documents' own examples work verbatim (host changed only).

func TestSeedRoboticksExamples(t *testing.T) {
	e := newEnv(t, spec.Roboticks)
	k := e.tg.Principals.Admin.APIKey
	for _, c := range []struct {
		name string
		h    http.Header
		path string
	}{
		{"curl bearer org devices", hdr("Authorization", "Bearer "+k), "/organizations/acme/devices"},
		{"curl x-api-key org devices", hdr("X-API-Key", k), "/organizations/acme/devices"},
		{"python project devices", hdr("Authorization", "Bearer "+k, "Content-Type", "application/json"), "/organizations/acme/projects/warehouse/devices"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.get(c.path, c.h)
			expect(t, r, 200, c.path)
			var list []map[string]any
			if err := json.Unmarshal(r.body, &list); err != nil || len(list) == 0 {
				t.Fatalf("devices = %s, want a non-empty JSON list", r.body)
			}
		})
	}
	r := e.do(http.MethodPost, "/auth/login", hdr("Content-Type", "application/json"), `{
  "email": "user@example.com",
  "password": "your-password"
}`)
	expect(t, r, 200, "login")
	m := r.json(t)
	if m["token_type"] != "bearer" || m["expires_in"] != float64(3600) || !strings.HasPrefix(m["access_token"].(string), "eyJhbGciOiJIUzI1NiIs") {
		t.Fatalf("login response %v", m)
	}
	if r.h.Get("Cache-Control") != "no-store" {
		t.Fatal("login without Cache-Control: no-store")
	}
	expect(t, e.get("/organizations/acme/devices", bearerH(m["access_token"].(string))), 200, "JWT on devices")
	r = e.do(http.MethodPost, "/auth/refresh", bearerH(m["access_token"].(string)), "")
	expect(t, r, 200, "refresh")
}

func TestSeedRequestRocketExamples(t *testing.T) {
	e := newEnv(t, spec.RequestRocket)
	r := e.get("/clients", hdr("Content-Type", "application/json", "Authorization", e.tg.Principals.Admin.APIKey))
	expect(t, r, 200, "GET /api/clients")
	var out struct {
		Clients []map[string]any `json:"clients"`
		Message string           `json:"message"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil || out.Message != "Success" || len(out.Clients) == 0 {
		t.Fatalf("body %s", r.body)
	}
	for _, c := range out.Clients {
		if len(c) != 2 || c["clientId"] == nil || c["clientName"] == nil {
			t.Fatalf("client %v, want exactly clientId and clientName", c)
		}
	}
	r = e.get("/clients", nil)
	expect(t, r, 401, "no token")
	if err := e.p.Err401.Match(r.body); err != nil {
		t.Fatal(err)
	}
}

func TestSeedRigboxExamples(t *testing.T) {
	e := newEnv(t, spec.Rigbox)
	expect(t, e.get("/workspaces", hdr("Authorization", "Bearer "+e.tg.Principals.Admin.APIKey)), 200, "workspaces")
	expect(t, e.get("/capacity", nil), 200, "public capacity")
	expect(t, e.get("/templates", nil), 200, "public templates")
	r := e.get("/workspaces", nil)
	expect(t, r, 401, "missing")
	if string(r.body) != `{"message":"Missing Authorization header"}`+"\n" {
		t.Fatalf("body %s", r.body)
	}
	expect(t, e.get("/workspaces", bearerH(e.admin())), 200, "JWT")
}

func TestSeedIotisticaFlow(t *testing.T) {
	e := newEnv(t, spec.Iotistica)
	r := e.do(http.MethodPost, "/auth/login", nil, `{"email":"user@example.com","password":"your-password"}`)
	expect(t, r, 200, "login")
	m := r.json(t)
	if m["expiresIn"] != float64(3600) || m["accessToken"] == nil || m["refreshToken"] == nil {
		t.Fatalf("login %v", m)
	}
	access := m["accessToken"].(string)
	expect(t, e.get("/agents", bearerH(access)), 200, "GET /agents")
	r = e.do(http.MethodPost, "/auth/refresh", nil, `{"refreshToken":"`+m["refreshToken"].(string)+`"}`)
	expect(t, r, 200, "refresh")
	m2 := r.json(t)
	expect(t, e.get("/agents", bearerH(m2["accessToken"].(string))), 200, "refreshed token")

	r = e.do(http.MethodPost, "/provision/keys", bearerH(access), "")
	expect(t, r, 201, "provision key")
	pk := r.json(t)
	if !strings.HasPrefix(pk["key"].(string), "prov_") || pk["expiresAt"] == nil {
		t.Fatalf("prov key %v", pk)
	}
	r = e.do(http.MethodPost, "/provision/agent", nil, `{ "key": "`+pk["key"].(string)+`", "agentName": "gateway-01" }`)
	expect(t, r, 201, "provision agent")
	ag := r.json(t)
	if !strings.HasPrefix(ag["apiKey"].(string), "iotsk_live_") || ag["agentUuid"] == nil || ag["mqttPassword"] == nil {
		t.Fatalf("agent %v", ag)
	}
	expect(t, e.get("/device/"+ag["agentUuid"].(string)+"/state", devH(ag["apiKey"].(string))), 200, "device state")
	r = e.do(http.MethodPost, "/auth/api-keys", bearerH(access), `{"name":"factory-gateway-01","agentUuid":"550e8400-e29b-41d4-a716-446655440000"}`)
	expect(t, r, 201, "manual key")
	mk := r.json(t)
	expect(t, e.get("/device/550e8400-e29b-41d4-a716-446655440000/state", devH(mk["apiKey"].(string))), 200, "manual key state")
	// the seed's example device key works on its own state
	expect(t, e.get("/device/"+fixtures.AgentUUID1+"/state", devH(e.tg.Devices[0].APIKey)), 200, "fixture device")
}
