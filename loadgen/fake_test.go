package loadgen

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

// fakeServer is a tiny roboticks-like server for the package's own tests:
// three user keys, a rate-limited key (fixed windows, exact), login and
// refresh. The reference is tested from cmd/authconform.
type fakeServer struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	start   time.Time
	count   map[int64]int
	keys    map[string]bool
	overRL  bool // deliberately over-admit (a racy limiter)
	refresh int
}

func newFake(t *testing.T) (*fakeServer, *spec.Target) {
	f := &fakeServer{limit: 10, window: time.Second, start: time.Now(), count: map[int64]int{},
		keys: map[string]bool{"rbtk_adminadminadminadminadmin01": true, "rbtk_membermembermembermember01": true, "rbtk_outsideroutsideroutsider01": true}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	tg := &spec.Target{
		Profile: spec.Roboticks, BaseURL: srv.URL,
		Principals: spec.Principals{
			Admin:    spec.Principal{Email: "admin@x", Password: "pw-admin", APIKey: "rbtk_adminadminadminadminadmin01"},
			Member:   spec.Principal{Email: "member@x", Password: "pw-member", APIKey: "rbtk_membermembermembermember01"},
			Outsider: spec.Principal{Email: "out@x", Password: "pw-out", APIKey: "rbtk_outsideroutsideroutsider01"},
		},
		RevokedKey:  "rbtk_revokedrevokedrevokedrevok1",
		RateLimited: spec.RateLimited{APIKey: "rbtk_limitedlimitedlimitedlimit1", Limit: 10, Window: spec.Duration(time.Second)},
		Resources:   spec.Resources{Org: "acme", Project: "p1", RestrictedProject: "p2", OtherOrg: "other"},
	}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	return f, tg
}

func (f *fakeServer) key(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	k, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return k
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/api/v1/auth/login":
		var b map[string]string
		_ = json.NewDecoder(r.Body).Decode(&b)
		if !strings.HasPrefix(b["password"], "pw-") {
			w.WriteHeader(401)
			return
		}
		_, _ = w.Write([]byte(`{"access_token":"jwt-` + b["email"] + `-0","token_type":"bearer","expires_in":3600}`))
		return
	case r.URL.Path == "/api/v1/auth/refresh":
		k := f.key(r)
		if !strings.HasPrefix(k, "jwt-") {
			w.WriteHeader(401)
			return
		}
		f.mu.Lock()
		f.refresh++
		n := f.refresh
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"access_token":"jwt-r-` + strconv.Itoa(n) + `","token_type":"bearer","expires_in":3600}`))
		return
	}
	k := f.key(r)
	if k == "rbtk_limitedlimitedlimitedlimit1" {
		now := time.Now()
		win := int64(now.Sub(f.start) / f.window)
		reset := f.start.Add(time.Duration(win+1) * f.window)
		f.mu.Lock()
		used := f.count[win]
		admit := used < f.limit || (f.overRL && used < f.limit+3)
		if admit {
			f.count[win] = used + 1
		}
		f.mu.Unlock()
		rem := f.limit - used - 1
		if rem < 0 {
			rem = 0
		}
		w.Header().Set(spec.HeaderRateLimit, strconv.Itoa(f.limit))
		w.Header().Set(spec.HeaderRateReset, strconv.FormatInt(reset.Unix(), 10))
		if !admit {
			w.Header().Set(spec.HeaderRateRemaining, "0")
			w.Header().Set(spec.HeaderRetryAfter, "1")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"detail":"Rate limit exceeded. Try again in 1 seconds.","retry_after":1}`))
			return
		}
		w.Header().Set(spec.HeaderRateRemaining, strconv.Itoa(rem))
		_, _ = w.Write([]byte(`[]`))
		return
	}
	if f.keys[k] || strings.HasPrefix(k, "jwt-") {
		_, _ = w.Write([]byte(`[]`))
		return
	}
	w.WriteHeader(401)
	_, _ = w.Write([]byte(`{"detail":"Could not validate credentials"}`))
}
