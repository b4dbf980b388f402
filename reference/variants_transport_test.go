package reference

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

func withVariants(v ...string) func(*Config) { return func(c *Config) { c.Variants = v } }

// extra-error-fields: every error body, seed-given or not, carries
// "statusCode" with the status, and nothing else changes.
func TestVariantExtraErrorFields(t *testing.T) {
	for _, p := range spec.AllProfiles {
		e := newEnv(t, p, withVariants(VariantExtraErrorFields))
		for _, tc := range []struct {
			what string
			h    http.Header
			code int
		}{
			{"no credential", nil, 401},
			{"unknown credential", e.key(e.p.UserKeyPrefix + "nosuchkey0000000000000000"), 401},
		} {
			r := e.get(e.protected(), tc.h)
			expect(t, r, tc.code, fmt.Sprintf("%s: %s", p, tc.what))
			m := r.json(t)
			if got, _ := m["statusCode"].(float64); int(got) != tc.code {
				t.Errorf("%s: %s: statusCode = %v, want %d: %s", p, tc.what, m["statusCode"], tc.code, r.body)
			}
			delete(m, "statusCode")
			body := e.p.Err401
			if tc.h == nil {
				body = e.p.Err401Missing
			}
			if _, err := body.MatchRequired(r.body); err != nil {
				t.Errorf("%s: %s: the seed's fields are gone: %v", p, tc.what, err)
			}
		}
		if r := e.get(e.protected(), e.adminCred()); r.code != 200 || strings.Contains(string(r.body), "statusCode") {
			t.Errorf("%s: a success got %d / carries statusCode: %s", p, r.code, r.body)
		}
	}
}

// first-header-wins: of two Authorization (or X-API-Key) headers the first
// counts; without the variant both are refused.
func TestVariantFirstHeaderWins(t *testing.T) {
	for _, p := range []spec.ProfileName{spec.Roboticks, spec.Rigbox, spec.RequestRocket} {
		name, vp := "Authorization", "Bearer "
		if p == spec.RequestRocket {
			vp = ""
		}
		for _, on := range []bool{false, true} {
			var mods []func(*Config)
			if on {
				mods = append(mods, withVariants(VariantFirstHeaderWins))
			}
			e := newEnv(t, p, mods...)
			good, bad := e.tg.Principals.Admin.APIKey, e.p.UserKeyPrefix+"nosuchkey0000000000000000"
			first := e.get(e.protected(), hdr(name, vp+good, name, vp+bad))
			second := e.get(e.protected(), hdr(name, vp+bad, name, vp+good))
			want := 401
			if on {
				want = 200
			}
			if first.code != want || second.code != 401 {
				t.Errorf("%s (variant %v): valid first → %d (want %d), valid second → %d (want 401)", p, on, first.code, want, second.code)
			}
		}
	}
	e := newEnv(t, spec.Roboticks, withVariants(VariantFirstHeaderWins))
	good, bad := e.tg.Principals.Admin.APIKey, "rbtk_nosuchkey0000000000000000"
	if r := e.get(e.protected(), hdr("X-API-Key", good, "X-API-Key", bad)); r.code != 200 {
		t.Errorf("roboticks: two X-API-Key headers, valid first → %d, want 200", r.code)
	}
	// Two transports naming different keys are still refused.
	if r := e.get(e.protected(), hdr("Authorization", "Bearer "+good, "X-API-Key", e.tg.Principals.Outsider.APIKey)); r.code != 401 {
		t.Errorf("roboticks: Bearer + X-API-Key of different principals → %d, want 401", r.code)
	}
}

// header-limit-16k: a header block over 16 KiB gets 431 and the connection
// is closed; a request just under the limit is served; the server keeps
// serving. Without the variant a 64 KiB header reaches the handlers (401).
func TestVariantHeaderLimit16k(t *testing.T) {
	for _, on := range []bool{false, true} {
		cfg := Config{Profile: spec.Roboticks}
		if on {
			cfg.Variants = []string{VariantHeaderLimit16k}
		}
		r, err := Start(t.Context(), cfg, "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		addr := strings.TrimPrefix(r.URL, "http://")
		path := r.Server.profile.BasePath + "/organizations/acme/devices"
		key := r.Target.Principals.Admin.APIKey

		status, closed := rawStatus(t, addr, path, on, "X-API-Key: rbtk_"+strings.Repeat("A", 64<<10))
		switch {
		case on && (status != 431 || !closed):
			t.Errorf("variant on: 64 KiB header → %d (closed %v), want 431 and a closed connection", status, closed)
		case !on && status != 401:
			t.Errorf("variant off: 64 KiB header → %d, want 401 from the handler", status)
		}
		if status, _ := rawStatus(t, addr, path, false, "X-API-Key: "+key, "X-Pad: "+strings.Repeat("p", 12<<10)); status != 200 {
			t.Errorf("variant %v: a 12 KiB header block → %d, want 200", on, status)
		}
	}
}

// rawStatus sends one GET with the extra header lines on a new connection
// and returns the status and, with checkClose, whether the server closed
// the connection after the response (else the request asks for the close).
func rawStatus(t *testing.T, addr, path string, checkClose bool, lines ...string) (int, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if !checkClose {
		lines = append(lines, "Connection: close")
	}
	go func() {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n", path, addr, strings.Join(lines, "\r\n"))
	}()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !checkClose {
		return resp.StatusCode, false
	}
	// Keep-alive is the default: a connection still open after the
	// response would take another request (and time out here); a closed
	// one reads EOF or a reset.
	_, err = br.ReadByte()
	return resp.StatusCode, err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
