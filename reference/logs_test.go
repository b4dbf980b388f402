package reference

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/authconform/authconform/fixtures"
	"github.com/authconform/authconform/spec"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSecretsNeverLogged(t *testing.T) {
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			var buf syncBuf
			log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			e := newEnv(t, p, func(c *Config) { c.Logger = log; c.Faults = []string{FaultPanicOnLongHeader} })
			secrets := e.tg.Secrets()
			secrets = append(secrets, fixtures.JWTSecret, "wrong-password-123")
			cred := e.adminCred()
			if e.p.Login != nil {
				r := e.do(http.MethodPost, "/auth/login", nil, `{"email":"user@example.com","password":"your-password"}`)
				for _, v := range r.json(t) {
					if s, ok := v.(string); ok && len(s) > 20 {
						secrets = append(secrets, s)
					}
				}
				e.do(http.MethodPost, "/auth/login", nil, `{"email":"user@example.com","password":"wrong-password-123"}`)
				e.do(http.MethodPost, "/auth/login", nil, `{"email":"ghost@example.com","password":"wrong-password-123"}`)
			}
			e.get(e.protected(), cred)
			e.get(e.protected()+"?api_key="+e.tg.Principals.Admin.APIKey, nil)
			e.get(e.protected(), e.key(e.tg.RevokedKey))
			e.get(e.protected(), hdr("Authorization", "Bearer "+e.tg.Principals.Member.APIKey+"x", "X-Padding", strings.Repeat("p", 9000)))
			for range 12 {
				e.get(e.protected(), e.key(e.tg.RateLimited.APIKey))
			}
			if e.p.Keys != nil && p != spec.Iotistica {
				r := e.do(http.MethodPost, e.p.Keys.Create, cred, `{"name":"x"}`)
				k := r.json(t)[e.p.Keys.SecretJSON].(string)
				secrets = append(secrets, k)
				e.get(e.protected(), e.key(k))
			}
			if p == spec.Iotistica {
				admin := e.admin()
				r := e.do(http.MethodPost, "/provision/keys", bearerH(admin), "")
				pk := r.json(t)["key"].(string)
				secrets = append(secrets, pk)
				m := redeem(e, pk).json(t)
				secrets = append(secrets, m["apiKey"].(string), m["mqttPassword"].(string))
				redeem(e, pk)
				d := e.tg.Devices[0]
				mqttPost(e, "user", mqttUserBody(d.APIKey, "wrong-password-123", "agent-"+d.UUID), "application/json")
				mqttPost(e, "user", mqttUserBody(d.APIKey, d.MQTTPassword, "agent-"+d.UUID), "application/json")
				_, rt := iotLogin(e)
				secrets = append(secrets, rt)
				e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt))
				e.do(http.MethodPost, "/auth/refresh", nil, refreshBody(rt))
			}
			out := buf.String()
			if !strings.Contains(out, "panic recovered") {
				t.Fatal("expected the recovered panic in the log (test did not exercise logging)")
			}
			for _, s := range secrets {
				if len(s) >= 8 && strings.Contains(out, s) {
					t.Fatalf("a secret (%.6s…) appears in the logs", s)
				}
			}
		})
	}
}
