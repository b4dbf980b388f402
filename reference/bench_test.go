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

// BenchmarkKeyValid is the request of `make bench` (loadgen key-valid,
// roboticks): the admin's API key on the organisation's device list, over
// each of the profile's transports.
func BenchmarkKeyValid(b *testing.B) {
	s, err := New(Config{Profile: spec.Roboticks, RateLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	k := s.Target("http://x").Principals.Admin.APIKey
	h := s.Handler()
	for _, tr := range []struct{ name, header, value string }{
		{"x-api-key", "X-API-Key", k},
		{"bearer", "Authorization", "Bearer " + k},
	} {
		b.Run(tr.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodGet, "/api/v1/organizations/acme/devices", nil)
					req.Header.Set(tr.header, tr.value)
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatal(rec.Code)
					}
				}
			})
		})
	}
}

// BenchmarkHandler is the handler alone on one reused key-valid request
// (as `make bench` measures it in process), next to a bare handler that
// writes the same bytes: the difference is what auth, rate limiting and
// tenancy cost.
func BenchmarkHandler(b *testing.B) {
	s, err := New(Config{Profile: spec.Roboticks, RateLimit: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	k := s.Target("http://x").Principals.Admin.APIKey
	req := httptest.NewRequest(http.MethodGet, "/api/v1/organizations/acme/devices", nil)
	req.Header.Set("X-API-Key", k)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"reference", s.Handler()},
		{"bare", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				c.h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
