package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

// runCLI runs the CLI in this process.
func runCLI(args ...string) (int, string, string) {
	var o, e bytes.Buffer
	code := mainExit(args, &o, &e)
	return code, o.String(), e.String()
}

func TestLoadUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string // the flag or word the one-line error must name
	}{
		{[]string{"load"}, "missing SCENARIO"},
		{[]string{"load", "nope"}, `unknown scenario "nope"`},
		{[]string{"load", "key-valid", "extra"}, "unexpected argument"},
		{[]string{"load", "key-valid", "--rate", "0"}, "--rate 0"},
		{[]string{"load", "key-valid", "--rate", "fast"}, "--rate fast"},
		{[]string{"load", "key-valid", "--rate", "10", "--ramp", "1:2"}, "--rate and --ramp"},
		{[]string{"load", "key-valid", "--ramp", "100"}, "--ramp 100"},
		{[]string{"load", "key-valid", "--duration", "0s"}, "--duration"},
		{[]string{"load", "key-valid", "--threshold", "p99<<5"}, "p99<<5"},
		{[]string{"load", "key-valid", "--threshold", "p42<5ms"}, "unknown metric"},
		{[]string{"load", "key-valid", "--shard", "2/2"}, "--shard"},
		{[]string{"load", "key-valid", "--shard", "x"}, "--shard"},
		{[]string{"load", "key-valid", "--tolerance", "lots"}, "--tolerance"},
		{[]string{"load", "key-valid", "--baseline", "/nonexistent/b.json"}, "--baseline"},
		{[]string{"load", "key-valid", "--profile", "acme"}, "--profile"},
		{[]string{"load", "key-valid", "--target", "/nonexistent/t.yaml"}, "--target"},
		{[]string{"load", "key-valid", "--workers", "0"}, "--workers"},
		{[]string{"load", "key-valid", "--start-at", "noon"}, "--start-at"},
		{[]string{"load", "key-valid", "--fault", "no-such-fault"}, "--fault"},
		{[]string{"load", "key-valid", "--rate", "0.1", "--duration", "1s"}, "plans no request"},
		{[]string{"load", "key-valid", "--connections", "-1"}, "--connections"},
		{[]string{"load", "key-valid", "--nope"}, "nope"},
		{[]string{"load", "jwt-verify", "--profile", "requestrocket", "--rate", "1", "--duration", "1s"}, "needs a profile with login"},
		{[]string{"load", "mqtt-connect", "--quiet"}, "mqtt.address"},
		// requestrocket has no self-service keys API: a shard beyond its
		// principals cannot mint a key of its own (roboticks can, see
		// TestLoadShardsBeyondPrincipals).
		{[]string{"load", "key-valid", "--profile", "requestrocket", "--shard", "3/4", "--quiet"}, "shard 3/4"},
		{[]string{"load", "key-valid", "--engine", "turbo"}, "--engine"},
		{[]string{"load", "refresh", "--engine", "fast", "--quiet"}, "--engine fast"},
		{[]string{"load", "key-valid", "--threshold", "errors>=0.1"}, "errors"},
		{[]string{"load", "key-valid", "--json", "-", "--html", "-"}, "--json and --html"},
		{[]string{"report"}, "missing results FILE"},
		{[]string{"report", "/nonexistent/r.bin"}, "cannot read"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", c.args, code, stderr)
			continue
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: stderr %q, want one line naming %q", c.args, stderr, c.want)
		}
	}
	junk := filepath.Join(t.TempDir(), "junk.bin")
	_ = os.WriteFile(junk, []byte("not results"), 0o600)
	if code, _, stderr := runCLI("report", junk); code != exitUsage || !strings.Contains(stderr, "junk.bin") {
		t.Errorf("report junk: %d %q", code, stderr)
	}
}

func readReport(t *testing.T, path string) *loadgen.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep loadgen.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &rep
}

// A short attack against the embedded reference: counts and shapes only
// (the machine is shared; no latency assertions).
func TestLoadShortAttackEmbedded(t *testing.T) {
	dir := t.TempDir()
	js, res, html := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.bin"), filepath.Join(dir, "r.html")
	code, stdout, stderr := runCLI("load", "key-valid", "--rate", "200", "--duration", "1s", "--quiet",
		"--json", js, "--results", res, "--html", html, "--threshold", "success>=0.99")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := readReport(t, js)
	if rep.Requests != 200 || rep.StatusCodes["200"] != 200 || rep.Success != 1 || rep.AskedRate != 200 {
		t.Errorf("requests %d codes %v success %v asked %v", rep.Requests, rep.StatusCodes, rep.Success, rep.AskedRate)
	}
	if rep.Scenario != "key-valid" || rep.Target.Profile != "roboticks" || rep.Target.Kind != "embedded" || rep.Shard != "0/1" {
		t.Errorf("scenario %q target %+v shard %q", rep.Scenario, rep.Target, rep.Shard)
	}
	raw, _ := os.ReadFile(js)
	for _, k := range []string{`"50th"`, `"90th"`, `"95th"`, `"99th"`, `"max"`, `"p999"`, `"asked_rate"`, `"slip"`, `"late"`, `"status_codes"`, `"throughput"`, `"success"`, `"errors"`} {
		if !bytes.Contains(raw, []byte(k)) {
			t.Errorf("JSON report lacks %s", k)
		}
	}
	if fi, err := os.Stat(html); err != nil || fi.Size() < 1000 {
		t.Errorf("HTML plot: %v", err)
	}
	// re-report the results file: the same counts
	js2 := filepath.Join(dir, "r2.json")
	if code, out, e := runCLI("report", "--json", js2, res); code != exitOK {
		t.Fatalf("report: exit %d\n%s\n%s", code, out, e)
	}
	if rep2 := readReport(t, js2); rep2.Requests != rep.Requests || rep2.Success != rep.Success || rep2.AskedRate != 200 {
		t.Errorf("re-report %d/%v/%v, attack %d/%v", rep2.Requests, rep2.Success, rep2.AskedRate, rep.Requests, rep.Success)
	}
	// an impossible threshold exits 1, on load and on report
	if code, _, e := runCLI("report", "--threshold", "p99<1ns", res); code != exitFail || !strings.Contains(e, "p99<1ns") {
		t.Errorf("report impossible threshold: exit %d %q", code, e)
	}
	if code, _, e := runCLI("load", "key-valid", "--rate", "50", "--duration", "200ms", "--quiet", "--threshold", "p99<1ns"); code != exitFail {
		t.Errorf("load impossible threshold: exit %d %q", code, e)
	}
	// a baseline that is far better than reality breaches
	base := *rep
	base.Latencies.P50, base.Latencies.P90, base.Latencies.P99, base.Latencies.P999 = 1, 1, 1, 1
	bb, _ := json.Marshal(base)
	bf := filepath.Join(dir, "base.json")
	_ = os.WriteFile(bf, bb, 0o600)
	if code, _, e := runCLI("report", "--baseline", bf, res); code != exitFail || !strings.Contains(e, "baseline") {
		t.Errorf("baseline breach: exit %d %q", code, e)
	}
	if code, _, e := runCLI("report", "--baseline", js, res); code != exitOK {
		t.Errorf("report against its own baseline: exit %d %q", code, e)
	}
}

func TestLoadRateLimitEmbedded(t *testing.T) {
	js := filepath.Join(t.TempDir(), "rl.json")
	code, stdout, stderr := runCLI("load", "ratelimit", "--quiet", "--json", js)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := readReport(t, js)
	if rep.RateLimit == nil || rep.RateLimit.OverAdmitted != 0 || rep.RateLimit.HeaderErrors != 0 || len(rep.RateLimit.Windows) < 3 {
		t.Errorf("ratelimit: %+v", rep.RateLimit)
	}
	if !strings.Contains(stdout, "overAdmitted: 0") {
		t.Errorf("text report lacks overAdmitted: 0:\n%s", stdout)
	}
	// the mutant: a limiter that reads, yields, writes back over-admits
	js2 := filepath.Join(t.TempDir(), "racy.json")
	code, stdout, stderr = runCLI("load", "ratelimit", "--quiet", "--fault", "racy-rate-limiter", "--duration", "5s", "--json", js2)
	if code != exitOK {
		t.Fatalf("racy: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if rep := readReport(t, js2); rep.RateLimit == nil || rep.RateLimit.OverAdmitted == 0 {
		t.Errorf("racy-rate-limiter must show overAdmitted > 0: %+v", rep.RateLimit)
	}
}

// TestLoadHelperProcess is the CLI in a subprocess (see cliProcess).
func TestLoadHelperProcess(t *testing.T) {
	if os.Getenv("AUTHCONFORM_LOAD_HELPER") != "1" {
		t.Skip("helper process for TestShardsInProcesses")
	}
	var args []string
	_ = json.Unmarshal([]byte(os.Getenv("AUTHCONFORM_LOAD_ARGS")), &args)
	os.Exit(mainExit(args, os.Stdout, os.Stderr))
}

func cliProcess(args ...string) *exec.Cmd {
	self, _ := os.Executable()
	a, _ := json.Marshal(args)
	cmd := exec.Command(self, "-test.run=^TestLoadHelperProcess$")
	cmd.Env = append(os.Environ(), "AUTHCONFORM_LOAD_HELPER=1", "AUTHCONFORM_LOAD_ARGS="+string(a))
	return cmd
}

// N local processes each run one shard against one reference; their
// results merged by `authconform report` count like one attack.
func TestShardsInProcesses(t *testing.T) {
	ctx := context.Background()
	run, err := reference.Start(ctx, reference.Config{Profile: spec.Roboticks}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	dir := t.TempDir()
	tf := filepath.Join(dir, "target.yaml")
	if err := run.Target.WriteFile(tf); err != nil {
		t.Fatal(err)
	}
	const n = 3
	var wg sync.WaitGroup
	var files []string
	errs := make([]string, n)
	for i := 0; i < n; i++ {
		f := filepath.Join(dir, "shard"+string(rune('0'+i))+".bin")
		files = append(files, f)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := cliProcess("load", "key-valid", "--target", tf, "--rate", "300", "--duration", "1s", "--quiet",
				"--shard", string(rune('0'+i))+"/3", "--results", f)
			var e bytes.Buffer
			cmd.Stderr = &e
			if err := cmd.Run(); err != nil {
				errs[i] = err.Error() + ": " + e.String()
			}
		}(i)
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	one := filepath.Join(dir, "one.json")
	if code, out, e := runCLI("load", "key-valid", "--target", tf, "--rate", "300", "--duration", "1s", "--quiet", "--json", one); code != exitOK {
		t.Fatalf("one attack: %d %s %s", code, out, e)
	}
	merged := filepath.Join(dir, "merged.json")
	if code, out, e := runCLI(append([]string{"report", "--json", merged}, files...)...); code != exitOK {
		t.Fatalf("report: %d %s %s", code, out, e)
	}
	m, o := readReport(t, merged), readReport(t, one)
	if m.Requests != o.Requests || m.StatusCodes["200"] != o.StatusCodes["200"] {
		t.Errorf("merged shards %d %v, one attack %d %v", m.Requests, m.StatusCodes, o.Requests, o.StatusCodes)
	}
	if m.AskedRate != 300 || m.Shard != "merged 3" || len(m.Shards) != 3 {
		t.Errorf("merged asked %v shard %q %v", m.AskedRate, m.Shard, m.Shards)
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range run.Target.Secrets() {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", filepath.Base(f))
			}
		}
	}
}

// mqtt-connect against a local anonymous Mosquitto (skipped without one):
// the storm's plumbing, provisioning and counting. The broker's auth
// plugin is tested by the MQTT suite.
func TestLoadMQTTConnectLocalBroker(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/mosquitto"); err2 != nil {
			t.Skip("no mosquitto binary")
		}
		bin = "/usr/sbin/mosquitto"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	_ = os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\n", port)), 0o600)
	broker := exec.Command(bin, "-c", conf)
	if err := broker.Start(); err != nil {
		t.Skipf("mosquitto does not start: %v", err)
	}
	defer func() { _ = broker.Process.Kill(); _ = broker.Wait() }()
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	run, err := reference.Start(context.Background(), reference.Config{Profile: spec.Iotistica}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	tg := *run.Target
	tg.MQTT = &spec.MQTT{Address: fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	tf := filepath.Join(dir, "target.yaml")
	if err := tg.WriteFile(tf); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "mqtt.json")
	code, stdout, stderr := runCLI("load", "mqtt-connect", "--target", tf, "--rate", "100", "--duration", "1s", "--quiet", "--json", js)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rep := readReport(t, js)
	if rep.Requests != 100 || rep.StatusCodes["200"] != 100 {
		t.Errorf("requests %d codes %v errors %v", rep.Requests, rep.StatusCodes, rep.Errors)
	}
	raw, _ := os.ReadFile(js)
	for _, s := range tg.Secrets() {
		if bytes.Contains(raw, []byte(s)) {
			t.Error("the report holds a secret")
		}
	}
}

// provision-race on the reference and on its racy-provisioning mutant.
func TestLoadProvisionRace(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		fault string
		multi bool
	}{{"", false}, {"racy-provisioning", true}} {
		js := filepath.Join(dir, "p"+c.fault+".json")
		args := []string{"load", "provision-race", "--rate", "80", "--duration", "1s", "--quiet", "--json", js}
		if c.fault != "" {
			args = append(args, "--fault", c.fault)
		}
		if code, out, e := runCLI(args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, e)
		}
		rep := readReport(t, js)
		pr := rep.Provision
		if pr == nil || pr.Keys != 10 || rep.Requests != 80 {
			t.Fatalf("%s: requests %d provision %+v", c.fault, rep.Requests, pr)
		}
		if got := pr.MultiRedeemed > 0; got != c.multi {
			t.Errorf("fault %q: multiRedeemed %d", c.fault, pr.MultiRedeemed)
		}
		if !c.multi && pr.RedeemedOnce != pr.Keys {
			t.Errorf("single-use keys: %+v", pr)
		}
	}
}

// dyingProxy fronts a reference with a proxy that forwards the first n
// requests and then dies: its listener closes and every open connection
// is cut, as when a target crashes mid-attack.
func dyingProxy(t *testing.T, n int64) string {
	t.Helper()
	run, err := reference.Start(context.Background(), reference.Config{Profile: spec.Roboticks}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = run.Close() })
	u, _ := url.Parse(run.Target.BaseURL)
	u.Path = ""
	rp := httputil.NewSingleHostReverseProxy(u)
	var count atomic.Int64
	var srv *httptest.Server
	var once sync.Once
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1) <= n {
			rp.ServeHTTP(w, r)
			return
		}
		once.Do(func() { go func() { srv.Listener.Close(); srv.CloseClientConnections() }() })
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
			}
		}
	}))
	t.Cleanup(srv.Close)
	tg := *run.Target
	tg.BaseURL = strings.Replace(run.Target.BaseURL, u.Host, strings.TrimPrefix(srv.URL, "http://"), 1)
	tf := filepath.Join(t.TempDir(), "dying.yaml")
	if err := tg.WriteFile(tf); err != nil {
		t.Fatal(err)
	}
	return tf
}

// A target that dies mid-attack fails the run by default (more than 1 %
// of requests without an answer) and the report says so; an errors
// threshold overrides the default.
func TestLoadTargetDiesMidAttack(t *testing.T) {
	js := filepath.Join(t.TempDir(), "dead.json")
	code, stdout, stderr := runCLI("load", "key-valid", "--target", dyingProxy(t, 100), "--rate", "200", "--duration", "1s", "--quiet", "--timeout", "2s", "--json", js)
	if code != exitFail {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "TARGET LOST") || !strings.Contains(stderr, "errors<=0.01") {
		t.Errorf("the report must say the target was lost and the default gate breached:\n%s\n%s", stdout, stderr)
	}
	rep := readReport(t, js)
	if rep.TargetLost == nil || rep.TransportErrors < 100 || rep.TransportErrorRatio <= 0.01 {
		t.Errorf("target lost %+v, transport errors %d (%.3f)", rep.TargetLost, rep.TransportErrors, rep.TransportErrorRatio)
	}
	code, stdout, stderr = runCLI("load", "key-valid", "--target", dyingProxy(t, 100), "--rate", "200", "--duration", "1s", "--quiet", "--timeout", "2s", "--threshold", "errors<=1")
	if code != exitOK {
		t.Errorf("--threshold errors<=1: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// SIGINT mid-attack: exit 1, the JSON records planned vs sent, and
// `authconform report` on the results file says the attack was cut short.
func TestLoadInterruptedIsCutShort(t *testing.T) {
	dir := t.TempDir()
	res, js := filepath.Join(dir, "cut.bin"), filepath.Join(dir, "cut.json")
	cmd := cliProcess("load", "key-valid", "--rate", "100", "--duration", "20s", "--quiet", "--results", res, "--json", js)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// wait until results flow, then interrupt
	for i := 0; i < 100; i++ {
		if fi, err := os.Stat(res); err == nil && fi.Size() > 4096 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFail {
		t.Fatalf("interrupted load: %v, want exit 1\n%s", err, errBuf.String())
	}
	if !strings.Contains(errBuf.String(), "of 2000 planned") {
		t.Errorf("stderr %q does not give sent of planned", errBuf.String())
	}
	rep := readReport(t, js)
	if !rep.CutShort || rep.Planned != 2000 || rep.Sent == 0 || rep.Sent >= 2000 {
		t.Errorf("JSON: cut short %v planned %d sent %d", rep.CutShort, rep.Planned, rep.Sent)
	}
	code, stdout, stderr := runCLI("report", res)
	if code != exitOK || !strings.Contains(stdout, "CUT SHORT") || !strings.Contains(stderr, "cut short") {
		t.Errorf("report of a cut attack: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// --json - and --results - write to stdout (the text report goes to
// stderr); a second '-' is a usage error; --baseline of another scenario
// is refused before the attack.
func TestLoadStdoutAndBaselineScenario(t *testing.T) {
	code, stdout, stderr := runCLI("load", "key-valid", "--rate", "50", "--duration", "200ms", "--quiet", "--json", "-")
	if code != exitOK {
		t.Fatalf("--json -: exit %d\n%s", code, stderr)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Requests != 10 {
		t.Errorf("--json -: stdout is not the JSON report (%v): %q", err, stdout)
	}
	if !strings.Contains(stderr, "Requests") {
		t.Errorf("--json -: the text report must go to stderr: %q", stderr)
	}
	code, stdout, stderr = runCLI("load", "key-valid", "--rate", "50", "--duration", "200ms", "--quiet", "--results", "-")
	if code != exitOK {
		t.Fatalf("--results -: exit %d\n%s", code, stderr)
	}
	a := loadgen.NewAggregator(0)
	if err := a.AddFile("stdout", strings.NewReader(stdout)); err != nil || a.Report().Requests != 10 {
		t.Errorf("--results -: stdout holds no results: %v", err)
	}
	// and `authconform report -` reads them from stdin
	rp := cliProcess("report", "--json", "-", "-")
	rp.Stdin = strings.NewReader(stdout)
	out, err := rp.Output()
	var fromStdin loadgen.Report
	if err != nil || json.Unmarshal(out, &fromStdin) != nil || fromStdin.Requests != 10 {
		t.Errorf("report - (stdin): %v %q", err, out)
	}
	code, _, stderr = runCLI("load", "key-valid", "--quiet", "--results", "-", "--json", "-")
	if code != exitUsage || !strings.Contains(stderr, "--json and --results") {
		t.Errorf("two outputs on stdout: exit %d %q", code, stderr)
	}
	base := filepath.Join(t.TempDir(), "inv.json")
	b, _ := json.Marshal(loadgen.Report{Scenario: "key-invalid", Requests: 10, Success: 1})
	_ = os.WriteFile(base, b, 0o600)
	code, _, stderr = runCLI("load", "key-valid", "--quiet", "--baseline", base)
	if code != exitUsage || !strings.Contains(stderr, "--baseline") || !strings.Contains(stderr, "key-invalid") {
		t.Errorf("baseline of another scenario: exit %d %q", code, stderr)
	}
}

// --shard i/N beyond the target's credentials: shards 3 and 4 of 5 mint
// their own API keys (roboticks' keys API) and revoke them afterwards;
// jwt-verify shards log in themselves; iotistica's device-key shards
// register devices of their own. Every shard succeeds and the merge
// counts like one attack.
func TestLoadShardsBeyondPrincipals(t *testing.T) {
	const n = 5
	for _, c := range []struct {
		profile  spec.ProfileName
		scenario string
		minted   string // a note every shard past the target's credentials has
	}{
		{spec.Roboticks, "key-valid", "minted its own API key"},
		{spec.Roboticks, "jwt-verify", "logs in as"},
		{spec.Iotistica, "key-valid", "registered 1 device(s) of its own"},
	} {
		t.Run(string(c.profile)+"/"+c.scenario, func(t *testing.T) {
			ctx := context.Background()
			run, err := reference.Start(ctx, reference.Config{Profile: c.profile}, "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer run.Close()
			tg := run.Target
			bufs := make([]bytes.Buffer, n)
			reps := make([]*loadgen.Report, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					reps[i], errs[i] = loadgen.Run(ctx, loadgen.Config{Scenario: c.scenario, Target: tg, Pace: loadgen.Constant(250, time.Second),
						Shard: loadgen.Shard{Index: i, Count: n}, Results: &bufs[i]})
				}(i)
			}
			wg.Wait()
			mintedShards := 0
			for i := 0; i < n; i++ {
				if errs[i] != nil {
					t.Fatalf("shard %d/%d: %v", i, n, errs[i])
				}
				if reps[i].Success != 1 {
					t.Errorf("shard %d/%d: success %v %v %v", i, n, reps[i].Success, reps[i].StatusCodes, reps[i].Errors)
				}
				if strings.Contains(strings.Join(reps[i].Notes, "\n"), c.minted) {
					mintedShards++
				}
			}
			if mintedShards == 0 {
				t.Errorf("no shard says %q: the target's own credentials were shared", c.minted)
			}
			a := loadgen.NewAggregator(0)
			for i := range bufs {
				if err := a.AddFile(fmt.Sprintf("shard-%d", i), &bufs[i]); err != nil {
					t.Fatal(err)
				}
			}
			m := a.Report()
			if m.Requests != 250 || m.Success != 1 || m.Shard != "merged 5" {
				t.Errorf("merged %d requests, success %v, shard %q; want 250, 1, merged 5", m.Requests, m.Success, m.Shard)
			}
			if c.profile == spec.Roboticks && c.scenario == "key-valid" {
				// the minted keys were revoked after the attack: the
				// admin's and the member's key lists hold them revoked
				for _, who := range []spec.Principal{tg.Principals.Admin, tg.Principals.Member} {
					req, _ := http.NewRequest(http.MethodGet, tg.BaseURL+"/api/v1/api-keys", nil)
					req.Header.Set("X-API-Key", who.APIKey)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					var keys []struct {
						Name    string `json:"name"`
						Revoked bool   `json:"revoked"`
					}
					_ = json.NewDecoder(resp.Body).Decode(&keys)
					resp.Body.Close()
					found := 0
					for _, k := range keys {
						if strings.HasPrefix(k.Name, "authconform-load-shard-") {
							found++
							if !k.Revoked {
								t.Errorf("minted key %s still active after the attack", k.Name)
							}
						}
					}
					if found != 1 {
						t.Errorf("%s has %d minted keys, want 1 (shards 3 and 4 mint one each, of admin and member)", who.Email, found)
					}
				}
			}
		})
	}
}
