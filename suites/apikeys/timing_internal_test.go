package apikeys

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// leakyServer refuses every key, but compares it byte by byte with real
// and spends extra time per matching byte: the defect KEY-006 exists for.
func leakyServer(real string, perByte time.Duration) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-API-Key")
		for i := 0; i < len(k) && i < len(real) && k[i] == real[i]; i++ {
			for start := time.Now(); time.Since(start) < perByte; {
			}
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
}

func TestTimingProbeDetectsEarlyExit(t *testing.T) {
	const real = "rbtk_DummyKeyForTheTimingProbeTest0123456789abc" // a dummy, no server knows it
	cases := []struct {
		name    string
		perByte time.Duration
		leaks   bool
	}{
		{"early-exit comparison, 5µs per matching byte", 5 * time.Microsecond, true},
		{"constant work", 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := leakyServer(real, tc.perByte)
			defer srv.Close()
			p := timingProbe{URL: srv.URL, Header: "X-API-Key", Real: real, Prefix: "rbtk_", PerClass: 600, Warmup: 100}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := p.measure(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Other) != 0 {
				t.Fatalf("statuses other than 401: %v", res.Other)
			}
			if got := res.Worst >= TimingThreshold; got != tc.leaks {
				t.Errorf("worst |t| = %.2f, threshold %.1f, want leak=%v\n%s", res.Worst, TimingThreshold, tc.leaks, res.Summary)
			}
			t.Logf("worst |t| = %.2f\n%s", res.Worst, res.Summary)
		})
	}
}
