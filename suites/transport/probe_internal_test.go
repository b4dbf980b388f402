package transport

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// fakeServer accepts connections on 127.0.0.1 and hands each to handle.
func fakeServer(t *testing.T, handle func(net.Conn)) *framework.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	p, err := spec.Get(spec.Roboticks)
	if err != nil {
		t.Fatal(err)
	}
	return framework.NewClient(p, &spec.Target{Profile: spec.Roboticks, BaseURL: "http://" + ln.Addr().String()})
}

// readHeadBytes reads up to n bytes of the request (less if it ends).
func readHeadBytes(c net.Conn, n int) {
	_, _ = io.CopyN(io.Discard, c, int64(n))
}

const answer400 = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"

// A server that answers 400 after 16 KiB and stops reading is judged by
// its 400, although the rest of an 8 MiB request can never be written
// (the "write: broken pipe" case of issue 8).
func TestProbeReadsAnswerDespiteFailedWrite(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	cl := fakeServer(t, func(c net.Conn) {
		defer c.Close()
		readHeadBytes(c, 16<<10)
		_, _ = io.WriteString(c, answer400)
		<-hold // never read the rest
	})
	r, err := rawProbe(t.Context(), cl, "/x", []string{"X-API-Key: " + strings.Repeat("A", 8<<20)}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.TimedOut || r.Closed || r.Status != 400 {
		t.Fatalf("got status %d closed=%v timedOut=%v, want the 400\n%s", r.Status, r.Closed, r.TimedOut, r.Exchange)
	}
	if r.WriteErr == nil {
		t.Errorf("the 8 MiB write cannot have completed, but no write error was recorded")
	}
	if v := probeVerdict(r, false); v != "" {
		t.Errorf("a 400 must pass AUTH-009, got %q", v)
	}
}

// A server that answers 431 and closes at once (unread data: the kernel
// resets the connection) is judged by the 431 or, when the reset wins the
// race, as closed without a response: both pass, neither is an error.
func TestProbeAnswerThenReset(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		readHeadBytes(c, 16<<10)
		_, _ = io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n")
		c.Close()
	})
	for i := 0; i < 5; i++ {
		r, err := rawProbe(t.Context(), cl, "/x", []string{"Authorization: Bearer " + strings.Repeat("A", 1<<20)}, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if r.TimedOut || (!r.Closed && r.Status != 431) {
			t.Fatalf("got status %d closed=%v timedOut=%v, want 431 or closed\n%s", r.Status, r.Closed, r.TimedOut, r.Exchange)
		}
		if v := probeVerdict(r, false); v != "" {
			t.Errorf("431 or a close must pass AUTH-009, got %q", v)
		}
	}
}

// A server that reads the request and fails with 500 fails AUTH-009.
func TestProbe5xxFails(t *testing.T) {
	cl := fakeServer(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	r, err := rawProbe(t.Context(), cl, "/x", []string{"X-API-Key: rbtk_abc\x00def"}, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != 500 {
		t.Fatalf("got %d, want 500\n%s", r.Status, r.Exchange)
	}
	for _, served := range []bool{false, true} {
		if probeVerdict(r, served) == "" {
			t.Errorf("a 500 passed AUTH-009 (served=%v)", served)
		}
	}
}

// A server that never answers and never closes is a timeout (the spec
// makes it inconclusive), not a closed connection.
func TestProbeHangIsTimeout(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	cl := fakeServer(t, func(c net.Conn) {
		defer c.Close()
		go func() { _, _ = io.Copy(io.Discard, c) }()
		<-hold
	})
	r, err := rawProbe(t.Context(), cl, "/x", []string{"X-API-Key: x"}, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !r.TimedOut || r.Closed {
		t.Fatalf("timedOut=%v closed=%v, want a timeout\n%s", r.TimedOut, r.Closed, r.Exchange)
	}
}

// A dial failure is an error (the spec makes it inconclusive), never a
// closed connection that would pass.
func TestProbeDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, _ := spec.Get(spec.Roboticks)
	cl := framework.NewClient(p, &spec.Target{Profile: spec.Roboticks, BaseURL: "http://" + addr})
	if _, err := rawProbe(t.Context(), cl, "/x", []string{"X-API-Key: x"}, 5*time.Second); err == nil {
		t.Fatal("no error for a port nobody listens on")
	}
}

func TestProbeVerdict(t *testing.T) {
	resp := func(st int) probeResult { return probeResult{Resp: &framework.Resp{Status: st}} }
	for _, tc := range []struct {
		r      probeResult
		served bool
		ok     bool
	}{
		{resp(400), false, true},
		{resp(401), false, true},
		{resp(431), false, true},
		{probeResult{Resp: &framework.Resp{}, Closed: true}, false, true},
		{resp(200), false, false},
		{resp(302), false, false},
		{resp(500), false, false},
		{resp(503), false, false},
		// Duplicated headers: serving one of them is AUTH-008's business.
		{resp(200), true, true},
		{resp(401), true, true},
		{resp(500), true, false},
	} {
		got := probeVerdict(tc.r, tc.served) == ""
		if got != tc.ok {
			t.Errorf("status %d closed=%v served=%v: passes=%v, want %v", tc.r.Status, tc.r.Closed, tc.served, got, tc.ok)
		}
	}
}
