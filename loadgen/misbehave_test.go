package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

// Misbehaving targets on 127.0.0.1: each answers the set-up requests
// (probes, logins) correctly, then misbehaves. Counts and shapes only, no
// timing assertions.

// probes is how many requests key-valid sends before the attack against
// the fake's target: 3 principals × 2 roboticks transports.
const probes = 6

// misbehaving serves good for the first n requests, then bad.
func misbehaving(t *testing.T, n int64, bad http.Handler) (*httptest.Server, *spec.Target, *atomic.Int64) {
	t.Helper()
	good, tg := newFake(t)
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) <= n {
			good.ServeHTTP(w, r)
			return
		}
		bad.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tg.BaseURL = srv.URL
	return srv, tg, &count
}

func TestRedirectIsTheAnswer(t *testing.T) {
	var followed atomic.Int64
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			followed.Add(1)
			_, _ = w.Write([]byte(`[]`))
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	// set-up: key-valid probes 6 credentials; jwt-verify logs in 3
	// principals and probes their 3 JWTs
	for _, eng := range []string{EngineFast, EngineVegeta} {
		for _, sc := range []string{"key-valid", "jwt-verify"} {
			_, tg, _ := misbehaving(t, probes, redirect)
			rep := run(t, Config{Scenario: sc, Target: tg, Pace: Constant(100, 500*time.Millisecond), Engine: eng})
			if rep.Requests != 50 || rep.StatusCodes["302"] != 50 || rep.Success != 0 {
				t.Errorf("%s %s: requests %d codes %v success %v: a 302 must be recorded as the answer", eng, sc, rep.Requests, rep.StatusCodes, rep.Success)
			}
		}
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("the attacker followed %d redirects", n)
	}
}

// endless writes a 200 body that never ends (until the client goes).
func endless(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

func TestEndlessBodyIsBounded(t *testing.T) {
	// key-valid: every answer after the probes is endless. Without the
	// bound each request would read until the timeout (2 s) and fail.
	for _, eng := range []string{EngineFast, EngineVegeta} {
		_, tg, _ := misbehaving(t, probes, http.HandlerFunc(endless))
		rep := run(t, Config{Scenario: "key-valid", Target: tg, Pace: Constant(20, time.Second), Timeout: 2 * time.Second, Engine: eng})
		if rep.Requests != 20 || rep.StatusCodes["200"] != 20 || rep.TransportErrors != 0 {
			t.Errorf("%s: requests %d codes %v errors %v", eng, rep.Requests, rep.StatusCodes, rep.Errors)
		}
		if max := uint64(20 * MaxBody); rep.BytesIn.Total > max || rep.BytesIn.Total < MaxBody {
			t.Errorf("%s: bytes in %d, want at most %d (MaxBody per answer)", eng, rep.BytesIn.Total, max)
		}
	}
}

func TestEndlessRefreshBodyIsBounded(t *testing.T) {
	// the refresh scenario reads its 2xx answers itself (the next token)
	// and passes the others on: both bounded
	for _, code := range []int{200, 500} {
		good, tg := newFake(t)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/v1/auth/refresh" {
				w.WriteHeader(code)
				endless(w, r)
				return
			}
			good.ServeHTTP(w, r)
		}))
		defer srv.Close()
		tg.BaseURL = srv.URL
		rep := run(t, Config{Scenario: "refresh", Target: tg, Pace: Constant(20, time.Second), Timeout: 2 * time.Second})
		if rep.Requests != 20 || rep.StatusCodes[strconv.Itoa(code)] != 20 || rep.TransportErrors != 0 {
			t.Errorf("endless %d: requests %d codes %v errors %v", code, rep.Requests, rep.StatusCodes, rep.Errors)
		}
	}
}

func TestTargetDiesMidAttack(t *testing.T) {
	for _, eng := range []string{EngineFast, EngineVegeta} {
		t.Run(eng, func(t *testing.T) { targetDies(t, eng) })
	}
}

func targetDies(t *testing.T, eng string) {
	var srv *httptest.Server
	var once atomic.Bool
	srv, tg, _ := misbehaving(t, probes+50, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if once.CompareAndSwap(false, true) {
			// the target dies: no more connections, the open ones cut
			go func() { srv.Listener.Close(); srv.CloseClientConnections() }()
		}
		hj, ok := w.(http.Hijacker)
		if ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	}))
	rep := run(t, Config{Scenario: "key-valid", Target: tg, Pace: Constant(200, time.Second), Timeout: 2 * time.Second, Engine: eng})
	if rep.Requests != 200 || rep.TransportErrors < 100 {
		t.Fatalf("requests %d transport errors %d codes %v", rep.Requests, rep.TransportErrors, rep.StatusCodes)
	}
	if rep.TargetLost == nil || rep.TargetLost.FailedAfter < 100 || rep.TargetLost.LastAnswer < 0 {
		t.Errorf("target lost: %+v", rep.TargetLost)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), "TARGET LOST") || !strings.Contains(text.String(), "Transport errors") {
		t.Errorf("the text report does not say the target was lost:\n%s", text.String())
	}
	def, _ := ParseThreshold(DefaultErrorsThreshold)
	if Gate(rep, []Threshold{def}) {
		t.Errorf("errors %.3f pass the default gate", rep.TransportErrorRatio)
	}
	lax, err := ParseThreshold("errors<=1")
	if err != nil {
		t.Fatal(err)
	}
	if !Gate(rep, []Threshold{lax}) {
		t.Error("errors<=1 must pass")
	}
}

func TestInterruptedAttackIsCutShort(t *testing.T) {
	for _, eng := range []string{EngineFast, EngineVegeta} {
		t.Run(eng, func(t *testing.T) { interrupted(t, eng) })
	}
}

func interrupted(t *testing.T, eng string) {
	_, tg := newFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var res bytes.Buffer
	rep, err := Run(ctx, Config{Scenario: "key-valid", Target: tg, Pace: Constant(100, 3*time.Second), Results: &res, Engine: eng})
	if !errors.Is(err, context.Canceled) || rep == nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.CutShort || rep.Planned != 300 || rep.Sent >= 300 || rep.Sent != rep.Requests {
		t.Errorf("cut short %v planned %d sent %d", rep.CutShort, rep.Planned, rep.Sent)
	}
	a := NewAggregator(0)
	if err := a.AddFile("res", &res); err != nil {
		t.Fatal(err)
	}
	re := a.Report()
	if !re.CutShort || re.Planned != 300 || re.Sent != rep.Sent || len(re.CutShards) != 1 {
		t.Errorf("from the file: cut short %v planned %d sent %d %v", re.CutShort, re.Planned, re.Sent, re.CutShards)
	}
	var text bytes.Buffer
	_ = re.WriteText(&text)
	if !strings.Contains(text.String(), "CUT SHORT") {
		t.Errorf("text report:\n%s", text.String())
	}
	// a complete attack is not cut short
	full := run(t, Config{Scenario: "key-valid", Target: tg, Pace: Constant(100, 200*time.Millisecond), Engine: eng})
	if full.CutShort || full.Planned != 20 || full.Sent != 20 {
		t.Errorf("full attack: cut short %v planned %d sent %d", full.CutShort, full.Planned, full.Sent)
	}
}

func TestCheckMerge(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	l := func(scen string, p Pace, i, n int, began time.Time) string {
		return Label{Scenario: scen, Pace: p, Shard: Shard{i, n}, Began: began, Planned: p.Hits()}.String()
	}
	p := Constant(100, 10*time.Second)
	f := func(name string, labels ...string) ResultsFile { return ResultsFile{Name: name, Labels: labels} }
	ok := []ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("key-valid", p, 1, 2, t0.Add(time.Second)))}
	if err := CheckMerge(ok); err != nil {
		t.Errorf("shards of one attack: %v", err)
	}
	for _, c := range []struct {
		files []ResultsFile
		want  []string
	}{
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("jwt-verify", p, 1, 2, t0))}, []string{"a and b", "scenario"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("key-valid", Constant(200, 10*time.Second), 1, 2, t0))}, []string{"a and b", "pace"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("key-valid", p, 1, 3, t0))}, []string{"a and b", "shards"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("key-valid", p, 1, 2, t0.Add(time.Minute)))}, []string{"a and b", "apart"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("b", l("key-valid", p, 0, 2, t0))}, []string{"a and b", "shard 0/2"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0), l("key-valid", p, 0, 2, t0.Add(time.Second)))}, []string{"a holds shard 0/2 twice"}},
		{[]ResultsFile{f("a", l("key-valid", p, 0, 2, t0)), f("plain", "vegeta-attack")}, []string{"plain", "not written"}},
	} {
		err := CheckMerge(c.files)
		if err == nil || !errors.Is(err, ErrResults) {
			t.Errorf("%v: %v, want a refusal", c.files, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q does not say %q", c.files, err, w)
			}
		}
	}
}

func TestErrorsThreshold(t *testing.T) {
	for _, bad := range []string{"errors>=0.1", "errors<=2", "errors<x"} {
		if _, err := ParseThreshold(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
	th, err := ParseThreshold("errors<0.05")
	if err != nil {
		t.Fatal(err)
	}
	if r := th.Eval(&Report{Requests: 100, TransportErrors: 4, TransportErrorRatio: 0.04}); !r.Pass {
		t.Errorf("4%% < 5%%: %+v", r)
	}
	if r := th.Eval(&Report{Requests: 100, TransportErrors: 5, TransportErrorRatio: 0.05}); r.Pass {
		t.Errorf("5%% < 5%%: %+v", r)
	}
}

// An endless 200 body on every connection keeps the attacker's peak RSS
// below 200 MB, on both engines: measured in a fresh process (VmHWM).
func TestEndlessBodyRSS(t *testing.T) {
	if os.Getenv("LOADGEN_RSS_HELPER") == "1" {
		_, tg, _ := misbehaving(t, probes, http.HandlerFunc(endless))
		for _, eng := range []string{EngineFast, EngineVegeta} {
			rep := run(t, Config{Scenario: "key-valid", Target: tg, Pace: Constant(200, time.Second), Engine: eng, Timeout: 5 * time.Second, Connections: 64, Workers: 64})
			if rep.Requests != 200 {
				t.Errorf("%s: %d requests", eng, rep.Requests)
			}
		}
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				fmt.Println("RSS-PEAK", strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:")))
			}
		}
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: peak RSS not measurable here")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory use; the peak RSS bound is checked without -race")
	}
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^TestEndlessBodyRSS$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LOADGEN_RSS_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var kb int
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "RSS-PEAK ") {
			_, _ = fmt.Sscanf(strings.TrimPrefix(l, "RSS-PEAK "), "%d kB", &kb)
		}
	}
	if kb == 0 || kb > 200<<10 {
		t.Errorf("peak RSS %d kB with endless bodies, want (0, 200 MB)\n%s", kb, out)
	}
	t.Logf("peak RSS %d kB", kb)
}
