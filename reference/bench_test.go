package reference

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
)

// BenchmarkMQTTUser measures the broker's connect callback (the hot path
// compared with a Mosquitto password file).
func BenchmarkMQTTUser(b *testing.B) {
	s, err := New(Config{Profile: spec.Iotistica})
	if err != nil {
		b.Fatal(err)
	}
	d := s.Target("http://x").Devices[0]
	body := `{"username":"` + d.APIKey + `","password":"` + d.MQTTPassword + `","clientid":"agent-` + d.UUID + `"}`
	h := s.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/api/v1/mosquitto-auth/user", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}

// BenchmarkAPIKey measures an authenticated, rate-limited request.
func BenchmarkAPIKey(b *testing.B) {
	s, err := New(Config{Profile: spec.Roboticks})
	if err != nil {
		b.Fatal(err)
	}
	k := s.Target("http://x").Principals.Admin.APIKey
	h := s.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/organizations/acme/projects/warehouse/devices", nil)
			req.Header.Set("X-API-Key", k)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}
