package mqttauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// Secrets used throughout: they must never show up in logs or errors.
const (
	secretUser = "iotsk_live_SECRETKEY0123456789"
	secretPass = "mqtt-pass-SECRET-ÿ\"<&>"
)

type seen struct {
	mu     sync.Mutex
	method string
	path   string
	ctype  string
	body   string
}

func recordingServer(t *testing.T, status int) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.method, s.path, s.ctype, s.body = r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

func mustNew(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestWireFormatMatchesGoAuth: bodies are exactly what go-auth's HTTP
// backend sends (encoding/json of a map, url.Values.Encode for form).
func TestWireFormatMatchesGoAuth(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []ParamsMode{ParamsJSON, ParamsForm} {
		t.Run(string(mode), func(t *testing.T) {
			srv, s := recordingServer(t, http.StatusOK)
			c := mustNew(t, WithURL(srv.URL), WithParamsMode(mode))
			enc := func(m map[string]any) string {
				if mode == ParamsJSON {
					b, _ := json.Marshal(m)
					return string(b)
				}
				v := url.Values{}
				for k, x := range m {
					switch x := x.(type) {
					case string:
						v.Set(k, x)
					case int:
						v.Set(k, itoa(x))
					}
				}
				return v.Encode()
			}
			wantCT := map[ParamsMode]string{ParamsJSON: "application/json", ParamsForm: "application/x-www-form-urlencoded"}[mode]
			check := func(path, want string) {
				t.Helper()
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.method != http.MethodPost || s.path != path || s.ctype != wantCT {
					t.Errorf("got %s %s (%s), want POST %s (%s)", s.method, s.path, s.ctype, path, wantCT)
				}
				if s.body != want {
					t.Errorf("body\n got %s\nwant %s", s.body, want)
				}
			}
			if d, err := c.CheckUser(ctx, secretUser, secretPass, "agent-1"); d != Allow || err != nil {
				t.Fatalf("CheckUser = %v, %v", d, err)
			}
			check(DefaultUserPath, enc(map[string]any{"username": secretUser, "password": secretPass, "clientid": "agent-1"}))
			if d, err := c.CheckSuperuser(ctx, secretUser); d != Allow || err != nil {
				t.Fatalf("CheckSuperuser = %v, %v", d, err)
			}
			check(DefaultSuperuserPath, enc(map[string]any{"username": secretUser}))
			if d, err := c.CheckACL(ctx, secretUser, "agent-1", "agents/1/a b+#", AccSubscribe); d != Allow || err != nil {
				t.Fatalf("CheckACL = %v, %v", d, err)
			}
			check(DefaultACLPath, enc(map[string]any{"username": secretUser, "clientid": "agent-1", "topic": "agents/1/a b+#", "acc": AccSubscribe}))
		})
	}
}

func itoa(n int) string {
	return string(appendBody(nil, true, field{name: "x", num: n, isN: true})[2:])
}

func TestStatusMapping(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		status  int
		want    Decision
		wantErr bool
	}{
		{200, Allow, false}, {204, Allow, false},
		{302, Deny, false}, {400, Deny, false}, {401, Deny, false}, {403, Deny, false}, {404, Deny, false}, {429, Deny, false},
		{500, Deny, true}, {502, Deny, true}, {503, Deny, true},
	} {
		srv, _ := recordingServer(t, tc.status)
		for _, failOpen := range []bool{false, true} {
			c := mustNew(t, WithURL(srv.URL), WithFailOpen(failOpen))
			want := tc.want
			if failOpen && tc.wantErr {
				want = Allow // the mutant's defect
			}
			d, err := c.CheckUser(ctx, secretUser, secretPass, "c")
			if d != want || (err != nil) != tc.wantErr {
				t.Errorf("status %d failOpen=%v: got %v, %v; want %v, err=%v", tc.status, failOpen, d, err, want, tc.wantErr)
			}
			if tc.wantErr && !errors.Is(err, ErrBackend) {
				t.Errorf("status %d: error %v does not wrap ErrBackend", tc.status, err)
			}
			d, err = c.CheckACL(ctx, secretUser, "c", "t", AccWrite)
			if d != want || (err != nil) != tc.wantErr {
				t.Errorf("acl status %d failOpen=%v: got %v, %v", tc.status, failOpen, d, err)
			}
		}
	}
}

func TestBackendDownRefuses(t *testing.T) {
	ctx := context.Background()
	// Refused: a port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Slow: answers after the timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	for name, u := range map[string]string{"refused": "http://" + addr, "slow": slow.URL} {
		for _, failOpen := range []bool{false, true} {
			c := mustNew(t, WithURL(u), WithTimeout(200*time.Millisecond), WithFailOpen(failOpen))
			start := time.Now()
			d, err := c.CheckUser(ctx, secretUser, secretPass, "c")
			if !errors.Is(err, ErrBackend) {
				t.Errorf("%s: err = %v, want ErrBackend", name, err)
			}
			want := Deny
			if failOpen {
				want = Allow
			}
			if d != want {
				t.Errorf("%s failOpen=%v: decision %v, want %v", name, failOpen, d, want)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("%s: took %s, timeout not honoured", name, el)
			}
		}
	}
}

func TestKeepAliveReuseAndServerClose(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := mustNew(t, WithURL(srv.URL))
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		if d, err := c.CheckUser(ctx, secretUser, secretPass, "c"); d != Allow || err != nil {
			t.Fatalf("call %d: %v %v", i, d, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("200 sequential calls opened %d connections, want 1 (keep-alive)", n)
	}
	// The server drops its idle connections: the next call must still be
	// answered (a stale pooled connection is not a refusal).
	for i := 0; i < 20; i++ {
		srv.CloseClientConnections()
		if d, err := c.CheckUser(ctx, secretUser, secretPass, "c"); d != Allow || err != nil {
			t.Fatalf("after server close %d: %v %v", i, d, err)
		}
	}
}

func TestEmptyUsernameAndNoSuperuserMakeNoRequest(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	defer srv.Close()
	c := mustNew(t, WithURL(srv.URL), WithPaths("/u", "", "/a"))
	ctx := context.Background()
	if d, err := c.CheckUser(ctx, "", "p", "c"); d != Deny || err != nil {
		t.Errorf("empty username: %v %v", d, err)
	}
	if d, err := c.CheckSuperuser(ctx, "u"); d != Deny || err != nil {
		t.Errorf("superuser disabled: %v %v", d, err)
	}
	if calls.Load() != 0 {
		t.Errorf("made %d requests, want 0", calls.Load())
	}
}

func TestURLPrefixAndHostPort(t *testing.T) {
	srv, s := recordingServer(t, 200)
	c := mustNew(t, WithURL(srv.URL+"/prefix/"))
	c.CheckUser(context.Background(), "u", "p", "c")
	if s.path != "/prefix"+DefaultUserPath {
		t.Errorf("path %q", s.path)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	c = mustNew(t, WithHost(host, port, false), WithPaths("/u", "/s", "/a"))
	c.CheckACL(context.Background(), "u", "c", "t", AccRead)
	if s.path != "/a" {
		t.Errorf("path %q", s.path)
	}
}

// TestNoSecretInLogsOrErrors drives every path (allow, deny, 5xx, refused,
// timeout, fail-open) with debug logging and checks neither the username
// (a device API key) nor the password appears anywhere.
func TestNoSecretInLogsOrErrors(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer slow.Close()
	urls := []string{dead, slow.URL}
	for _, st := range []int{200, 403, 500} {
		srv, _ := recordingServer(t, st)
		urls = append(urls, srv.URL)
	}
	var errs []string
	for _, u := range urls {
		for _, fo := range []bool{false, true} {
			for _, mode := range []ParamsMode{ParamsJSON, ParamsForm} {
				c := mustNew(t, WithURL(u), WithLogger(logger), WithFailOpen(fo), WithTimeout(100*time.Millisecond), WithParamsMode(mode))
				ctx := context.Background()
				for _, f := range []func() (Decision, error){
					func() (Decision, error) { return c.CheckUser(ctx, secretUser, secretPass, "agent-x") },
					func() (Decision, error) { return c.CheckSuperuser(ctx, secretUser) },
					func() (Decision, error) { return c.CheckACL(ctx, secretUser, "agent-x", "agents/x", AccWrite) },
				} {
					if _, err := f(); err != nil {
						errs = append(errs, err.Error())
					}
				}
			}
		}
	}
	mu.Lock()
	out := buf.String() + strings.Join(errs, "\n")
	mu.Unlock()
	if !strings.Contains(out, "backend error") || !strings.Contains(out, "denied") {
		t.Fatalf("expected log lines for errors and denials, got:\n%s", out)
	}
	for _, secret := range []string{secretUser, secretPass, "SECRETKEY", "mqtt-pass"} {
		if strings.Contains(out, secret) || strings.Contains(out, url.QueryEscape(secret)) {
			t.Errorf("secret %q leaked into logs or errors:\n%s", secret, out)
		}
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string][]Option{
		"no address":   nil,
		"bad scheme":   {WithURL("ftp://x")},
		"no host":      {WithURL("http://")},
		"bad port":     {WithHost("h", "99999", false)},
		"bad path":     {WithURL("http://h"), WithPaths("user", "", "/a")},
		"bad timeout":  {WithURL("http://h"), WithTimeout(0)},
		"bad mode":     {WithURL("http://h"), WithParamsMode("xml")},
		"bad max idle": {WithURL("http://h"), WithMaxIdleConns(0)},
	} {
		if _, err := New(opts...); !errors.Is(err, ErrOption) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one-line ErrOption", name, err)
		}
	}
}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "ctl\x00\x01\x1f\n\r\t\b\f", "<html>&amp;", "é ÿ 日本", "bad\xff\xfeutf8", "\u2028\u2029", "emoji 😀"} {
		checkJSON(t, s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkJSON(t, s) })
}

func checkJSON(t *testing.T, s string) {
	t.Helper()
	want, _ := json.Marshal(s)
	if got := appendJSONString(nil, s); string(got) != string(want) {
		t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
	}
	if utf8.ValidString(s) {
		if got := appendQueryEscape(nil, s); string(got) != url.QueryEscape(s) {
			t.Errorf("appendQueryEscape(%q) = %s, want %s", s, got, url.QueryEscape(s))
		}
	}
}

func BenchmarkCheckUser(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	c, _ := New(WithURL(srv.URL))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c.CheckUser(ctx, secretUser, secretPass, "agent-1")
	}
}

// TestStickyRefusalsMutant: only WithStickyRefusals answers a client's
// next CONNECT from its last refusal, without a request, and once; other
// clients and backend errors are not remembered.
func TestStickyRefusalsMutant(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		switch {
		case bytes.Contains(b, []byte(`"password":"right"`)):
			w.WriteHeader(200)
		case bytes.Contains(b, []byte(`"password":"fail"`)):
			w.WriteHeader(503)
		default:
			w.WriteHeader(403)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, sticky := range []bool{false, true} {
		c := mustNew(t, WithURL(srv.URL), WithStickyRefusals(sticky))
		if c.StickyRefusals() != sticky {
			t.Fatalf("StickyRefusals() = %v", !sticky)
		}
		calls.Store(0)
		if d, err := c.CheckUser(ctx, "u", "wrong", "c1"); d != Deny || err != nil {
			t.Fatalf("wrong password: %v %v", d, err)
		}
		if d, _ := c.CheckUser(ctx, "u", "right", "c2"); d != Allow {
			t.Errorf("sticky=%v: another clientid was refused", sticky)
		}
		d, _ := c.CheckUser(ctx, "u", "right", "c1")
		if want := map[bool]Decision{false: Allow, true: Deny}[sticky]; d != want {
			t.Errorf("sticky=%v: right password after a wrong one: %v, want %v", sticky, d, want)
		}
		if want := map[bool]int32{false: 3, true: 2}[sticky]; calls.Load() != want {
			t.Errorf("sticky=%v: %d requests, want %d", sticky, calls.Load(), want)
		}
		if d, _ := c.CheckUser(ctx, "u", "right", "c1"); d != Allow {
			t.Errorf("sticky=%v: the remembered refusal is used more than once", sticky)
		}
		if _, err := c.CheckUser(ctx, "u", "fail", "c1"); !errors.Is(err, ErrBackend) {
			t.Fatalf("503: %v", err)
		}
		if d, _ := c.CheckUser(ctx, "u", "right", "c1"); d != Allow {
			t.Errorf("sticky=%v: a backend error was remembered as a refusal", sticky)
		}
	}
}
