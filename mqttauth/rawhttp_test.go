package mqttauth

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers every request read from a connection with answer
// (a full HTTP response, or "" to hang up).
func rawServer(t *testing.T, answer func(n int) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var n atomic.Int32
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					a := answer(int(n.Add(1)))
					if a == "" {
						return
					}
					if _, err := io.WriteString(c, a); err != nil {
						return
					}
					if strings.Contains(a, "Connection: close") || strings.HasPrefix(a, "HTTP/1.0") {
						return
					}
				}
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestRawPathResponseFraming(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("x", 200<<10)
	for _, tc := range []struct {
		name   string
		answer string
		want   Decision
		err    bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}", Allow, false},
		{"chunked", "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5;ext\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n", Deny, false},
		{"no length, close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close", Allow, false},
		{"http/1.0", "HTTP/1.0 200 OK\r\n\r\n", Allow, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", Allow, false},
		{"100 then 200", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Allow, false},
		{"big body", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(big)) + "\r\n\r\n" + big, Allow, false},
		{"503", "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", Deny, true},
		{"garbage", "SSH-2.0-OpenSSH\r\n\r\n", Deny, true},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", Deny, true},
		{"hang up", "", Deny, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := rawServer(t, func(int) string { return tc.answer })
			c := mustNew(t, WithURL(u), WithTimeout(time.Second))
			if c.raw == nil {
				t.Fatal("plain http did not take the fast path")
			}
			for i := 0; i < 3; i++ { // also on a reused connection
				d, err := c.CheckUser(ctx, "u", "p", "c")
				if d != tc.want || (err != nil) != tc.err {
					t.Fatalf("call %d: got %v, %v; want %v, err=%v", i, d, err, tc.want, tc.err)
				}
				if err != nil && !errors.Is(err, ErrBackend) {
					t.Fatalf("error %v does not wrap ErrBackend", err)
				}
			}
		})
	}
}

// TestStdlibPathStillWorks: WithTransport (and https) use net/http.
func TestStdlibPathStillWorks(t *testing.T) {
	srv, s := recordingServer(t, http.StatusForbidden)
	c := mustNew(t, WithURL(srv.URL), WithTransport(http.DefaultTransport.(*http.Transport).Clone()))
	if c.raw != nil {
		t.Fatal("WithTransport must use net/http")
	}
	if d, err := c.CheckACL(context.Background(), "u", "c", "t", AccRead); d != Deny || err != nil {
		t.Fatalf("got %v %v", d, err)
	}
	if s.path != DefaultACLPath {
		t.Errorf("path %q", s.path)
	}
	tls := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer tls.Close()
	c2 := mustNew(t, WithURL(tls.URL))
	if c2.raw != nil {
		t.Fatal("https must use net/http")
	}
}

// trickleServer answers one request with a 200 in two pieces, each after
// gap (gap shorter than the timeout under test, 2×gap longer); done is
// closed once the whole answer is written.
func trickleServer(t *testing.T, gap time.Duration) (string, chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		for _, piece := range []string{"HTTP/1.1 200 OK\r\n", "Content-Length: 0\r\n\r\n"} {
			time.Sleep(gap)
			if _, err := io.WriteString(c, piece); err != nil {
				return
			}
		}
		close(done)
		time.Sleep(time.Second) // keep the connection until the client gives up
	}()
	return "http://" + ln.Addr().String(), done
}

// TestTimeoutBoundsATricklingAnswer (issue 11): the timeout bounds the
// whole call, not each read. A backend that writes its 200 in two pieces,
// each 0.8 × the timeout after the last, must be a backend error
// (refuse), returned before the backend finished writing. With a bound
// per read (as before) the answer got through as Allow after 1.6 × the
// timeout: each read was within the timeout.
func TestTimeoutBoundsATricklingAnswer(t *testing.T) {
	const timeout = 400 * time.Millisecond
	for _, raw := range []bool{true, false} {
		url, done := trickleServer(t, timeout*8/10)
		opts := []Option{WithURL(url), WithTimeout(timeout)}
		if !raw {
			opts = append(opts, WithTransport(&http.Transport{Proxy: nil}))
		}
		c := mustNew(t, opts...)
		if (c.raw != nil) != raw {
			t.Fatalf("raw=%v: wrong client path", raw)
		}
		d, err := c.CheckUser(context.Background(), "u", "p", "c")
		if d != Deny || !errors.Is(err, ErrBackend) {
			t.Errorf("raw=%v: trickling answer: %v %v, want deny with a backend error", raw, d, err)
		}
		select {
		case <-done:
			t.Errorf("raw=%v: the call returned only after the backend wrote its whole answer", raw)
		default:
		}
	}
}
