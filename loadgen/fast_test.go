package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/tsenart/vegeta/v12/lib/plot"
)

// rawServer answers on 127.0.0.1 with canned HTTP/1.x bytes chosen by the
// request path, to exercise every way an answer can be framed.
func rawServer(t *testing.T) string {
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
			go serveRaw(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

func serveRaw(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		path := strings.Fields(line)[1]
		for {
			h, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if h == "\r\n" {
				break
			}
		}
		var out string
		closeAfter := false
		switch path {
		case "/cl":
			out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: a\r\n\r\nhello"
		case "/chunked":
			out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
		case "/close":
			out, closeAfter = "HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", true
		case "/http10":
			out, closeAfter = "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold", true
		case "/continue":
			out = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
		case "/stale":
			// keep-alive promised, then the connection closes anyway (an
			// idle timeout racing the next request)
			out, closeAfter = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true
		case "/eof":
			out, closeAfter = "HTTP/1.1 200 OK\r\n\r\nuntil the end", true
		case "/redirect":
			out = "HTTP/1.1 302 Found\r\nLocation: /cl\r\nContent-Length: 0\r\n\r\n"
		case "/huge":
			// announces far more than MaxBody and sends it, slowly enough
			// that the attacker must stop reading on its own
			_, _ = c.Write([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 1<<40)))
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		case "/endless-chunked":
			_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
			chunk := []byte(fmt.Sprintf("10000\r\n%s\r\n", bytes.Repeat([]byte("y"), 0x10000)))
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		case "/garbage":
			out, closeAfter = "SMTP ready\r\n", true
		default:
			out = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
		}
		if _, err := c.Write([]byte(out)); err != nil || closeAfter {
			return
		}
	}
}

// fastRun sends n requests to one URL with the fast engine and returns
// the results ordered by Seq.
func fastRun(t *testing.T, u string, n int, keepHeaders bool) []vegeta.Result {
	t.Helper()
	fa, err := newFastAttack([]vegeta.Target{{Method: "GET", URL: u, Header: http.Header{"Authorization": {"Bearer k"}}}},
		Constant(float64(n)*4, 250*time.Millisecond), 2, 2*time.Second, keepHeaders)
	if err != nil {
		t.Fatal(err)
	}
	fa.run("test", time.Now())
	var out []vegeta.Result
	for b := range fa.results {
		out = append(out, b...)
		fa.recycle(b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

func TestFastEngineFraming(t *testing.T) {
	base := rawServer(t)
	for _, c := range []struct {
		path    string
		code    uint16
		bytesIn uint64
		errText string // a substring of every result's Error
	}{
		{"/cl", 200, 5, ""},
		{"/chunked", 200, 11, ""},
		{"/close", 401, 2, "401 Unauthorized"},
		{"/http10", 200, 3, ""},
		{"/continue", 204, 0, ""},
		{"/eof", 200, 13, ""},
		{"/stale", 200, 2, ""}, // sent again on a new connection, as net/http does
		{"/redirect", 302, 0, ""},
		{"/huge", 200, MaxBody, ""},
		{"/endless-chunked", 200, MaxBody, ""},
		{"/garbage", 0, 0, "malformed status line"},
	} {
		res := fastRun(t, base+c.path+"#tag", 5, false)
		if len(res) != 5 {
			t.Errorf("%s: %d results, want 5", c.path, len(res))
			continue
		}
		for i, r := range res {
			if r.Seq != uint64(i) || r.Code != c.code || r.BytesIn != c.bytesIn || !strings.Contains(r.Error, c.errText) || (c.errText == "" && r.Error != "") {
				t.Errorf("%s: result %d: seq %d code %d bytes %d error %q; want code %d bytes %d error ~%q", c.path, i, r.Seq, r.Code, r.BytesIn, r.Error, c.code, c.bytesIn, c.errText)
			}
			if r.URL != base+c.path+"#tag" || r.Method != "GET" || r.Latency <= 0 || r.Timestamp.IsZero() || r.Attack != "test" {
				t.Errorf("%s: result %d: %+v", c.path, i, r)
			}
		}
	}
	if res := fastRun(t, base+"/cl", 1, true); len(res) != 1 || res[0].Headers.Get("X-Test") != "a" {
		t.Errorf("headers kept: %+v", res)
	}
	// nobody listening: transport errors, not a hang
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	for _, r := range fastRun(t, dead+"/x", 3, false) {
		if r.Code != 0 || !strings.Contains(r.Error, "refused") {
			t.Errorf("dead target: code %d error %q", r.Code, r.Error)
		}
	}
}

func TestSerialize(t *testing.T) {
	r, err := serialize(vegeta.Target{Method: "POST", URL: "http://127.0.0.1:9/a/b?c=d#frag", Body: []byte(`{"x":1}`),
		Header: http.Header{"Content-Type": {"application/json"}, "X-Api-Key": {"k1"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := "POST /a/b?c=d HTTP/1.1\r\nHost: 127.0.0.1:9\r\nUser-Agent: authconform-load\r\nContent-Type: application/json\r\nX-Api-Key: k1\r\nContent-Length: 7\r\n\r\n{\"x\":1}"
	if string(r.raw) != want || r.bodyLen != 7 {
		t.Errorf("serialized\n%q\nwant\n%q", r.raw, want)
	}
	if _, err := serialize(vegeta.Target{Method: "GET", URL: "https://127.0.0.1/"}); err == nil {
		t.Error("https must be refused by the fast engine")
	}
}

// Both engines, same scenario, same fake: the same counts and bodies.
func TestEnginesAgree(t *testing.T) {
	_, tg := newFake(t)
	var reps []*Report
	for _, eng := range []string{EngineFast, EngineVegeta} {
		var res bytes.Buffer
		rep := run(t, Config{Scenario: "key-mixed", Target: tg, Pace: Constant(200, 500*time.Millisecond), Engine: eng, Results: &res})
		reps = append(reps, rep)
		// the results file is vegeta's: its decoder reads every result
		dec := vegeta.NewDecoder(&res)
		seqs := map[uint64]bool{}
		// and vegeta's plot, which needs timestamps increasing with Seq
		plt := plot.New()
		for {
			var r vegeta.Result
			if err := dec.Decode(&r); err != nil {
				break
			}
			if err := plt.Add(&r); err != nil {
				t.Errorf("%s: vegeta plot refuses result %d: %v", eng, r.Seq, err)
			}
			if r.Code == 0 || r.Latency <= 0 || r.Timestamp.IsZero() || r.URL == "" || r.Method != "GET" {
				t.Errorf("%s: result %+v", eng, r)
			}
			seqs[r.Seq] = true
		}
		if len(seqs) != 100 {
			t.Errorf("%s: %d distinct seqs in the results file, want 100", eng, len(seqs))
		}
	}
	f, v := reps[0], reps[1]
	if f.Requests != v.Requests || f.Success != 1 || v.Success != 1 || f.StatusCodes["401"] != v.StatusCodes["401"] || f.BytesIn.Total != v.BytesIn.Total {
		t.Errorf("fast %d %v %v %d, vegeta %d %v %v %d", f.Requests, f.Success, f.StatusCodes, f.BytesIn.Total, v.Requests, v.Success, v.StatusCodes, v.BytesIn.Total)
	}
	if !strings.Contains(strings.Join(f.Notes, "\n"), "engine: fast") || !strings.Contains(strings.Join(v.Notes, "\n"), "engine: vegeta") {
		t.Errorf("notes: %v / %v", f.Notes, v.Notes)
	}
	// what the fast engine cannot run is a usage error, auto falls back
	if _, err := Run(context.Background(), Config{Scenario: "refresh", Target: tg, Pace: Constant(10, 100*time.Millisecond), Engine: EngineFast}); !errors.Is(err, ErrUsage) {
		t.Errorf("refresh on the fast engine: %v, want ErrUsage", err)
	}
	if rep := run(t, Config{Scenario: "refresh", Target: tg, Pace: Constant(10, 100*time.Millisecond)}); !strings.Contains(strings.Join(rep.Notes, "\n"), "engine: vegeta") {
		t.Errorf("refresh on auto: %v", rep.Notes)
	}
}
