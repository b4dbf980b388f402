package framework

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
)

// TestClientLearnsRevealedSecrets: a credential a response reveals is
// masked in that very exchange, before the transcript shortens the body,
// whether it comes under a field every profile uses, under the profile's
// own login field, or where only the caller knows (Req.Reveal); and in
// every later exchange.
func TestClientLearnsRevealedSecrets(t *testing.T) {
	const (
		known  = "rbtk_known0123456789abcdefghijklmnopqrstuvwxyz"
		own    = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c3JfYWRtaW4ifQ.b3duLWZpZWxkLXNpZ25hdHVyZQ"
		nested = "ac_live_nested0123456789abcdefghijklmnopqrstuvwxyz"
	)
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	p := *spec.MustGet(spec.Roboticks)
	l := *p.Login
	l.AccessField = "jwt" // a profile document's own name for the token
	p.Login = &l
	cl := NewClient(&p, &spec.Target{BaseURL: srv.URL})
	pad := strings.Repeat("x", 500)
	for _, tc := range []struct {
		name, body, secret string
		reveal             func([]byte) []string
	}{
		{"known field", `{"pad":"` + pad + `","key":"` + known + `"}`, known, nil},
		{"profile's login field", `{"pad":"` + pad + `","jwt":"` + own + `"}`, own, nil},
		{"revealed by the caller", `{"pad":"` + pad + `","data":{"cred":"` + nested + `"}}`, nested, func(b []byte) []string {
			if s, _, _ := NewKeyIn(b, "ac_live_", ""); s != "" {
				return []string{s}
			}
			return nil
		}},
	} {
		body = tc.body
		r, err := cl.Try(context.Background(), Req{Method: http.MethodPost, Path: "/x", Reveal: tc.reveal})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Exchange, tc.secret[:20]) || !strings.Contains(r.Exchange, tc.secret[:6]+"…(masked)") {
			t.Errorf("%s: the secret is not masked in its own exchange:\n%s", tc.name, r.Exchange)
		}
		later, err := cl.Try(context.Background(), Req{Method: http.MethodGet, Path: "/y", Header: http.Header{"X-Echo": {tc.secret}}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(later.Exchange, tc.secret[:20]) {
			t.Errorf("%s: the secret is not masked in a later exchange:\n%s", tc.name, later.Exchange)
		}
	}
}
