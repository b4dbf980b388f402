package reference

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

// callbackServer is a running iotistica reference and one of its devices.
type callbackServer struct {
	r    *Running
	addr string
	dev  spec.Device
}

func startCallbackServer(t *testing.T, cfg Config) *callbackServer {
	t.Helper()
	if cfg.Profile == "" {
		cfg.Profile = spec.Iotistica
	}
	r, err := Start(context.Background(), cfg, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return &callbackServer{r: r, addr: strings.TrimPrefix(r.URL, "http://"), dev: r.Target.Devices[0]}
}

func (cs *callbackServer) userBody(password, clientID string) string {
	return `{"clientid":"` + clientID + `","password":"` + password + `","username":"` + cs.dev.APIKey + `"}`
}

// post is a request as the plugin writes it.
func post(path, contentType, body string, extra ...string) string {
	h := "Host: reference:8080\r\nUser-Agent: authconform-mqttauth\r\n"
	if contentType != "" {
		h += "Content-Type: " + contentType + "\r\n"
	}
	for _, e := range extra {
		h += e + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s", path, h, len(body), body)
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (a answer) String() string {
	h := a.header.Clone()
	h.Del("Date")
	return fmt.Sprintf("%d %v %q", a.status, h, a.body)
}

// testConn is a client connection with every wait bounded (5 s).
type testConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (cs *callbackServer) dial(t *testing.T) *testConn {
	t.Helper()
	c, err := net.Dial("tcp", cs.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return &testConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (tc *testConn) send(s string) {
	tc.t.Helper()
	if _, err := io.WriteString(tc.c, s); err != nil {
		tc.t.Fatal(err)
	}
}

func (tc *testConn) read() (answer, *http.Response) {
	tc.t.Helper()
	resp, err := http.ReadResponse(tc.br, nil)
	if err != nil {
		tc.t.Fatalf("reading the answer: %v", err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	return answer{resp.StatusCode, resp.Header, string(b)}, resp
}

func (tc *testConn) expect(status int) {
	tc.t.Helper()
	if a, _ := tc.read(); a.status != status {
		tc.t.Fatalf("answer %s, want status %d", a, status)
	}
}

// exchange sends prelude (and reads its answer), then req, and returns the
// answer to req.
func (cs *callbackServer) exchange(t *testing.T, prelude, req string) answer {
	t.Helper()
	tc := cs.dial(t)
	if prelude != "" {
		tc.send(prelude)
		tc.read()
	}
	tc.send(req)
	a, _ := tc.read()
	return a
}

// TestCallbackConnAnswersAsNetHTTP: every request, in the plugin's shape or
// not, gets the same answer (status, headers but Date, body) on a broker
// connection (one that began with a callback) as on a connection that
// net/http serves from the start.
func TestCallbackConnAnswersAsNetHTTP(t *testing.T) {
	cs := startCallbackServer(t, Config{})
	user, acl, super := "/api/v1/mosquitto-auth/user", "/api/v1/mosquitto-auth/acl", "/api/v1/mosquitto-auth/superuser"
	agent := "agent-" + cs.dev.UUID
	valid := cs.userBody(cs.dev.MQTTPassword, agent)
	aclBody := func(topic, acc string) string {
		return `{"acc":` + acc + `,"clientid":"` + agent + `","topic":"` + topic + `","username":"` + cs.dev.APIKey + `"}`
	}
	form := "clientid=" + agent + "&password=" + cs.dev.MQTTPassword + "&username=" + cs.dev.APIKey
	json := "application/json"
	cases := []struct {
		name   string
		req    string
		status int  // 0: whatever net/http answers
		fast   bool // answered by the callback loop
	}{
		{"user valid", post(user, json, valid), 200, true},
		{"user wrong password", post(user, json, cs.userBody("x"+cs.dev.MQTTPassword, agent)), 403, true},
		{"user wrong clientid", post(user, json, cs.userBody(cs.dev.MQTTPassword, agent+"x")), 403, true},
		{"user clientid of the right length", post(user, json, cs.userBody(cs.dev.MQTTPassword, "agentX"+cs.dev.UUID)), 403, true},
		{"user unknown key", post(user, json, `{"clientid":"a","password":"b","username":"iotsk_live_nope"}`), 403, true},
		{"user form", post(user, "application/x-www-form-urlencoded", form), 200, true},
		{"user json with charset", post(user, "application/json; charset=utf-8", valid), 200, true},
		{"user malformed json", post(user, json, `{"username":`), 403, true},
		{"user empty body", post(user, json, ""), 403, true},
		{"superuser", post(super, json, `{"username":"`+cs.dev.APIKey+`"}`), 403, true},
		{"acl own topic", post(acl, json, aclBody("agents/"+cs.dev.UUID+"/x", "2")), 200, true},
		{"acl acc as string", post(acl, json, aclBody("agents/"+cs.dev.UUID, `"4"`)), 200, true},
		{"acl other topic", post(acl, json, aclBody("agents/other", "1")), 403, true},
		{"acl bad acc", post(acl, json, aclBody("agents/"+cs.dev.UUID, "8")), 403, true},
		{"lower-case header names", strings.ReplaceAll(strings.ReplaceAll(post(user, json, valid), "Content-Length", "content-length"), "Host:", "host:"), 200, true},
		{"keep-alive", post(user, json, valid, "Connection: keep-alive"), 200, true},
		// Outside the shape: net/http answers.
		{"other path", "GET /api/v1/license HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"callback prefix, unknown path", post("/api/v1/mosquitto-auth/other", json, valid), 0, false},
		{"query", post(user+"?x=1", json, valid), 0, false},
		{"HTTP/1.0", strings.Replace(post(user, json, valid), "HTTP/1.1", "HTTP/1.0", 1), 0, false},
		{"lower-case method", strings.Replace(post(user, json, valid), "POST", "post", 1), 0, false},
		{"chunked", "POST " + user + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(valid), valid), 0, false},
		{"no content-length", "POST " + user + " HTTP/1.1\r\nHost: x\r\n\r\n", 0, false},
		{"two content-lengths", post(user, json, valid, fmt.Sprintf("Content-Length: %d", len(valid)+1)), 0, false},
		{"no host", strings.Replace(post(user, json, valid), "Host: reference:8080\r\n", "", 1), 0, false},
		{"two hosts", post(user, json, valid, "Host: other"), 0, false},
		{"bad host", strings.Replace(post(user, json, valid), "reference:8080", "a b", 1), 0, false},
		{"bad header name", post(user, json, valid, "Bad Name: x"), 0, false},
		{"control byte in a value", post(user, json, valid, "X-A: a\x01b"), 0, false},
		{"obs-fold", post(user, json, valid, "X-A: a\r\n b"), 0, false},
		{"expect", post(user, json, valid, "Expect: 100-continue"), 0, false},
		{"upgrade", post(user, json, valid, "Connection: Upgrade", "Upgrade: h2c"), 0, false},
		{"long header block", post(user, json, valid, "X-Pad: "+strings.Repeat("p", callbackMaxHeader)), 0, false},
		{"body over the limit", post(user, json, strings.Repeat(" ", MaxBodyBytes+1)), 0, false},
	}
	fastPrelude := post(user, json, valid)
	httpPrelude := "GET /api/v1/license HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			viaFast := cs.exchange(t, fastPrelude, tc.req)
			viaHTTP := cs.exchange(t, httpPrelude, tc.req)
			if viaFast.String() != viaHTTP.String() {
				t.Fatalf("broker connection answered\n  %s\nnet/http answered\n  %s", viaFast, viaHTTP)
			}
			if tc.status != 0 && viaFast.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", viaFast.status, tc.status, viaFast)
			}
			if d := viaFast.header.Get("Date"); d != "" {
				if _, err := http.ParseTime(d); err != nil {
					t.Errorf("Date %q: %v", d, err)
				}
			}
		})
	}
	// The shape check itself: what is answered by the loop and what is not.
	sh := newCallbackShape(cs.r.Server)
	for _, tc := range cases {
		block := tc.req[:strings.Index(tc.req, "\r\n\r\n")+4]
		if _, ok := sh.parse([]byte(block)); ok != tc.fast && len(block) <= callbackMaxHeader {
			t.Errorf("%s: parse accepted = %v, want %v", tc.name, ok, tc.fast)
		}
	}
}

// TestCallbackConnKeepsAliveAndPipelines: many requests on one connection,
// two of them in one write, a slow writer, and Connection: close.
func TestCallbackConnKeepsAliveAndPipelines(t *testing.T) {
	cs := startCallbackServer(t, Config{})
	user := "/api/v1/mosquitto-auth/user"
	ok := post(user, "application/json", cs.userBody(cs.dev.MQTTPassword, "agent-"+cs.dev.UUID))
	bad := post(user, "application/json", cs.userBody("wrong", "agent-"+cs.dev.UUID))
	tc := cs.dial(t)
	// The first request a byte at a time: the connection is told apart
	// without waiting for more than it has.
	for i := 0; i < len(ok); i++ {
		tc.send(ok[i : i+1])
		if i%16 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	tc.expect(200)
	for i := 0; i < 50; i++ {
		tc.send(ok)
		tc.expect(200)
	}
	tc.send(ok + bad + ok) // pipelined
	tc.expect(200)
	tc.expect(403)
	tc.expect(200)
	tc.send(post(user, "application/json", cs.userBody(cs.dev.MQTTPassword, "agent-"+cs.dev.UUID), "Connection: close"))
	if a, resp := tc.read(); a.status != 200 || !resp.Close {
		t.Fatalf("answer %s, want 200 and Connection: close", a)
	}
	if _, err := tc.br.ReadByte(); err != io.EOF {
		t.Fatalf("after Connection: close the server kept the connection open (read: %v)", err)
	}
}

// TestCallbackConnWaitsAreBounded: a client that sends nothing, half a
// prefix, half a request or nothing after an answer is cut off at the
// server's header and idle timeouts, as net/http does; Close ends idle
// broker connections.
func TestCallbackConnWaitsAreBounded(t *testing.T) {
	oldHeader, oldIdle := readHeaderTimeout, idleTimeout
	readHeaderTimeout, idleTimeout = 200*time.Millisecond, 400*time.Millisecond
	t.Cleanup(func() { readHeaderTimeout, idleTimeout = oldHeader, oldIdle })
	cs := startCallbackServer(t, Config{})
	ok := post("/api/v1/mosquitto-auth/user", "application/json", cs.userBody(cs.dev.MQTTPassword, "agent-"+cs.dev.UUID))
	closedWithin := func(t *testing.T, send string, answers int, within time.Duration) {
		t.Helper()
		tc := cs.dial(t)
		tc.send(send)
		for i := 0; i < answers; i++ {
			tc.read()
		}
		start := time.Now()
		rest, err := io.ReadAll(tc.br)
		if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
			t.Fatalf("the server kept the connection open for 5 s")
		}
		// Nothing, or what net/http answers a request cut short at its
		// header timeout (it gets the connection with the bytes read).
		if len(rest) > 0 && !bytes.HasPrefix(rest, []byte("HTTP/1.1 400 Bad Request\r\n")) {
			t.Fatalf("unexpected answer %q", rest)
		}
		if d := time.Since(start); d > within {
			t.Fatalf("closed after %v, want within %v", d, within)
		}
	}
	t.Run("nothing", func(t *testing.T) { closedWithin(t, "", 0, 2*time.Second) })
	t.Run("half a prefix", func(t *testing.T) { closedWithin(t, "POST /api/v1/mosq", 0, 2*time.Second) })
	t.Run("half a request", func(t *testing.T) { closedWithin(t, ok[:len(ok)-3], 0, 2*time.Second) })
	t.Run("half a second request", func(t *testing.T) { closedWithin(t, ok+ok[:40], 1, 2*time.Second) })
	t.Run("idle after an answer", func(t *testing.T) { closedWithin(t, ok, 1, 2*time.Second) })

	t.Run("Close", func(t *testing.T) {
		readHeaderTimeout, idleTimeout = oldHeader, oldIdle
		cs := startCallbackServer(t, Config{})
		tc := cs.dial(t)
		tc.send(ok)
		tc.expect(200)
		go func() { _ = cs.r.Close() }()
		if _, err := tc.br.ReadByte(); err != io.EOF {
			t.Fatalf("after Close the broker connection stayed open (read: %v)", err)
		}
	})
}

// TestCallbackConnFaultsAndLogs: the loop decides with the same function
// as the handlers (a fault shows on it), a middleware fault turns it off,
// and its debug lines carry no secret.
func TestCallbackConnFaultsAndLogs(t *testing.T) {
	user := "/api/v1/mosquitto-auth/user"
	t.Run("mqtt-ignore-password", func(t *testing.T) {
		cs := startCallbackServer(t, Config{Faults: []string{FaultMQTTIgnorePassword}})
		wrong := post(user, "application/json", cs.userBody("wrong", "agent-"+cs.dev.UUID))
		if a := cs.exchange(t, "", wrong); a.status != 200 {
			t.Fatalf("with %s a wrong password got %s on a broker connection, want 200", FaultMQTTIgnorePassword, a)
		}
	})
	t.Run("panic-on-long-header", func(t *testing.T) {
		cs := startCallbackServer(t, Config{Faults: []string{FaultPanicOnLongHeader}})
		req := post(user, "application/json", cs.userBody(cs.dev.MQTTPassword, "agent-"+cs.dev.UUID), "X-Long: "+strings.Repeat("x", maxHeaderValueForFault+1))
		if a := cs.exchange(t, "", req); a.status != http.StatusInternalServerError {
			t.Fatalf("with %s a long header got %s, want the middleware's 500", FaultPanicOnLongHeader, a)
		}
	})
	t.Run("debug log", func(t *testing.T) {
		var logs bytes.Buffer
		cs := startCallbackServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		cs.exchange(t, "", post(user, "application/json", cs.userBody(cs.dev.MQTTPassword, "agent-"+cs.dev.UUID)))
		_ = cs.r.Close()
		out := logs.String()
		if !strings.Contains(out, "path="+user) || !strings.Contains(out, "conn=broker") {
			t.Fatalf("no debug line for the callback:\n%s", out)
		}
		for _, secret := range []string{cs.dev.APIKey, cs.dev.MQTTPassword} {
			if strings.Contains(out, secret) {
				t.Fatalf("a device secret is in the log:\n%s", out)
			}
		}
	})
}

// TestCallbackConnOnlyWhereServed: profiles without the broker callbacks
// keep a plain net/http listener.
func TestCallbackConnOnlyWhereServed(t *testing.T) {
	r, err := Start(context.Background(), Config{Profile: spec.Roboticks}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, split := r.ln.(*splitListener); split {
		t.Fatal("roboticks serves no broker callbacks but got the callback loop")
	}
	cs := startCallbackServer(t, Config{})
	if _, split := cs.r.ln.(*splitListener); !split {
		t.Fatal("iotistica lost the callback loop")
	}
}

// FuzzCallbackParse: whatever header block the loop accepts, net/http's
// own parser accepts too, as the same request.
func FuzzCallbackParse(f *testing.F) {
	for _, s := range []string{
		post("/api/v1/mosquitto-auth/user", "application/json", ""),
		post("/api/v1/mosquitto-auth/acl", "application/x-www-form-urlencoded", "", "Connection: close"),
		post("/api/v1/mosquitto-auth/superuser", "", "", "host: b"),
		"POST /api/v1/mosquitto-auth/user HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n",
		"POST /api/v1/mosquitto-auth/user HTTP/1.1\r\nHost: a\r\nContent-Length:5\r\nConnection: KEEP-ALIVE\r\n\r\n",
	} {
		f.Add(s[:strings.Index(s, "\r\n\r\n")+4])
	}
	s, err := New(Config{Profile: spec.Iotistica})
	if err != nil {
		f.Fatal(err)
	}
	l := newCallbackShape(s)
	f.Fuzz(func(t *testing.T, block string) {
		i := strings.Index(block, "\r\n\r\n")
		if i < 0 || i+4 != len(block) || !strings.Contains(block, "\r\n") {
			return // the loop only parses a block that ends at its first blank line
		}
		got, ok := l.parse([]byte(block))
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(block)))
		if err != nil {
			t.Fatalf("accepted %q, which net/http refuses: %v", block, err)
		}
		if req.Method != http.MethodPost || req.RequestURI != l.paths[got.cb] || req.ContentLength != int64(got.length) ||
			len(req.TransferEncoding) > 0 || req.Close != got.close || req.Host == "" {
			t.Fatalf("accepted %q as %+v; net/http reads %s %s length %d close %v host %q", block, got, req.Method, req.RequestURI, req.ContentLength, req.Close, req.Host)
		}
	})
}
