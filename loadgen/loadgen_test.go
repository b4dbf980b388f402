package loadgen

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"1000": 1000, "1000/s": 1000, "500/1s": 500, "60/m": 1, "30000/1m": 500, "1.5": 1.5} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "x", "10/x", "10/0s", "NaN", "1e9"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): want an error", in)
		}
	}
	if a, b, err := ParseRamp("100:2000/s"); err != nil || a != 100 || b != 2000 {
		t.Errorf("ParseRamp = %v %v %v", a, b, err)
	}
	for _, in := range []string{"100", "100:", ":5", "a:b", "0:10"} {
		if _, _, err := ParseRamp(in); err == nil {
			t.Errorf("ParseRamp(%q): want an error", in)
		}
	}
}

func TestPlannedAt(t *testing.T) {
	p := Constant(1000, time.Second)
	if got := p.PlannedAt(0); got != time.Millisecond {
		t.Errorf("constant seq 0 planned at %s, want 1ms", got)
	}
	if got := p.PlannedAt(999); got != time.Second {
		t.Errorf("constant seq 999 planned at %s, want 1s", got)
	}
	// fractional shard rate: 1000/3 per second
	q := Constant(1000, time.Second).Split(3)
	if got := q.PlannedAt(332); got < 999*time.Millisecond || got > 1001*time.Millisecond {
		t.Errorf("split seq 332 planned at %s, want ≈1s", got)
	}
	// ramp 0→... : a·t²/2 + b·t = n+1 with b=100, a=(300-100)/2s=100/s²
	l := Linear(100, 300, 2*time.Second)
	if l.PlannedAt(0) != 0 {
		t.Error("linear seq 0 must be planned at once")
	}
	// at t=1s the integral is 50+100 = 150 → seq 149
	if got := l.PlannedAt(149); got < 999*time.Millisecond || got > 1001*time.Millisecond {
		t.Errorf("linear seq 149 planned at %s, want ≈1s", got)
	}
	if got := l.Asked(); got != 200 {
		t.Errorf("linear asked %v, want 200", got)
	}
	// planned counts: exactly the hits planned within the duration
	for _, c := range []struct {
		p    Pace
		want uint64
	}{{Constant(200, time.Second), 200}, {Constant(1000, 5*time.Second), 5000}, {Constant(300, time.Second).Split(3), 100},
		{Constant(1000, time.Second).Split(3), 333}, {Linear(100, 300, 2*time.Second), 400}, {Constant(0.5, 3*time.Second), 1}} {
		if got := c.p.Hits(); got != c.want {
			t.Errorf("%s: Hits %d, want %d", c.p, got, c.want)
		}
		if c.p.Hits() > 0 && c.p.PlannedAt(c.p.Hits()-1) > c.p.Duration {
			t.Errorf("%s: last hit planned after the end", c.p)
		}
	}
}

func TestPaceStringRoundTrip(t *testing.T) {
	burst := Constant(100, 7*time.Second)
	burst.Burst = 20
	for _, p := range []Pace{Constant(1000, 5*time.Second), Constant(333.333, time.Second), Linear(10, 2000, time.Minute), burst} {
		got, err := parsePace(p.String())
		if err != nil || got != p {
			t.Errorf("parsePace(%q) = %+v, %v; want %+v", p.String(), got, err, p)
		}
	}
	l := Label{Scenario: "ratelimit", Pace: Constant(50, 7*time.Second), Shard: Shard{1, 4}, Began: time.Unix(0, 1732000000123456789),
		RateLimit: 10, RateWindow: 2 * time.Second, Profile: "roboticks", BaseURL: "http://127.0.0.1:8080"}
	got, ok := ParseLabel(l.String())
	if !ok || !got.Began.Equal(l.Began) || got.Pace != l.Pace || got.Shard != l.Shard || got.RateLimit != 10 || got.RateWindow != 2*time.Second || got.Scenario != "ratelimit" || got.BaseURL != l.BaseURL {
		t.Errorf("label round trip: %+v, %v", got, ok)
	}
	if _, ok := ParseLabel("plain vegeta attack"); ok {
		t.Error("a foreign label must not parse")
	}
}

func TestBurstPace(t *testing.T) {
	p := Constant(100, time.Second)
	p.Burst = 8
	// hits 0..7 leave together at hit 7's plan (80 ms), 8..15 at 160 ms
	for seq, want := range map[uint64]time.Duration{0: 80 * time.Millisecond, 7: 80 * time.Millisecond, 8: 160 * time.Millisecond, 99: time.Second} {
		if got := p.PlannedAt(seq); got != want {
			t.Errorf("burst seq %d planned at %s, want %s", seq, got, want)
		}
	}
	if p.Hits() != 100 || p.Asked() != 100 {
		t.Errorf("a burst keeps the count and mean rate: %d %v", p.Hits(), p.Asked())
	}
	// the pacer waits for the burst's time, then sends the rest at once
	pc := p.Pacer()
	if w, stop := pc.Pace(0, 0); stop || w != 80*time.Millisecond {
		t.Errorf("first wait %s", w)
	}
	if w, _ := pc.Pace(80*time.Millisecond, 5); w != 0 {
		t.Errorf("inside a burst the wait is %s, want 0", w)
	}
}

func TestShard(t *testing.T) {
	for _, in := range []string{"0/1", "3/4", "9999/10000"} {
		if _, err := ParseShard(in); err != nil {
			t.Errorf("ParseShard(%q): %v", in, err)
		}
	}
	for _, in := range []string{"", "1", "4/4", "-1/4", "1/0", "a/b", "0/10001", "1/2/3"} {
		if _, err := ParseShard(in); err == nil {
			t.Errorf("ParseShard(%q): want an error", in)
		}
	}
	all := []string{"a", "b", "c", "d", "e"}
	seen := map[string]int{}
	for i := 0; i < 2; i++ {
		got, err := Partition(Shard{i, 2}, all, "keys")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range got {
			seen[x]++
		}
	}
	if len(seen) != 5 {
		t.Errorf("partition lost elements: %v", seen)
	}
	for k, n := range seen {
		if n != 1 {
			t.Errorf("%s in %d shards, want 1 (distinct credentials)", k, n)
		}
	}
	if _, err := Partition(Shard{3, 4}, all[:3], "keys"); !errors.Is(err, ErrUsage) {
		t.Errorf("shard without credentials: %v, want ErrUsage", err)
	}
}

func TestThresholdParse(t *testing.T) {
	good := map[string]Threshold{
		"p99<5ms":           {Metric: "p99", Op: "<", Dur: 5 * time.Millisecond},
		"p999 <= 1s":        {Metric: "p999", Op: "<=", Dur: time.Second},
		"max<100ms":         {Metric: "max", Op: "<", Dur: 100 * time.Millisecond},
		"success>=0.999":    {Metric: "success", Op: ">=", Value: 0.999},
		"rate>=0.99*asked":  {Metric: "rate", Op: ">=", Value: 0.99, Asked: true},
		"rate>950":          {Metric: "rate", Op: ">", Value: 950},
		"throughput>=asked": {Metric: "throughput", Op: ">=", Value: 1, Asked: true},
	}
	for in, want := range good {
		got, err := ParseThreshold(in)
		if err != nil {
			t.Errorf("ParseThreshold(%q): %v", in, err)
			continue
		}
		got.Expr = ""
		if got != want {
			t.Errorf("ParseThreshold(%q) = %+v, want %+v", in, got, want)
		}
	}
	for _, in := range []string{"p99<<5", "p99<5", "p99>5ms", "success<0.9", "success>=2", "p42<1ms", "rate>=x", "", "p99", "<5ms", "rate>=-1", "p99<=0ms", "success>=0.9*asked"} {
		if _, err := ParseThreshold(in); err == nil {
			t.Errorf("ParseThreshold(%q): want an error", in)
		}
	}
}

func TestThresholdEval(t *testing.T) {
	rep := &Report{Requests: 100, Success: 0.995, Rate: 990, AskedRate: 1000, Latencies: Latencies{P99: 4 * time.Millisecond}}
	cases := map[string]bool{
		"p99<5ms": true, "p99<4ms": false, "p99<=4ms": true, "success>=0.999": false, "success>=0.99": true,
		"rate>=0.99*asked": true, "rate>=0.999*asked": false, "rate>990": false, "rate>=990": true,
	}
	for expr, want := range cases {
		th, err := ParseThreshold(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := th.Eval(rep).Pass; got != want {
			t.Errorf("%s: pass=%v, want %v", expr, got, want)
		}
	}
	th, _ := ParseThreshold("p99<1ns")
	if Gate(rep, []Threshold{th}) || len(rep.Thresholds) != 1 {
		t.Error("an impossible threshold must fail the gate")
	}
}

func TestBaseline(t *testing.T) {
	base := &Report{Requests: 10, Success: 1, Throughput: 1000, Latencies: Latencies{P50: time.Millisecond, P90: 2 * time.Millisecond, P99: 4 * time.Millisecond, P999: 8 * time.Millisecond}}
	same := *base
	if !CompareBaseline(&same, base, 0.1) {
		t.Errorf("identical report must pass: %+v", same.Baseline)
	}
	slower := *base
	slower.Baseline = nil
	slower.Latencies.P99 = 4500 * time.Microsecond // +12.5 %
	if CompareBaseline(&slower, base, 0.1) {
		t.Error("p99 +12.5% must fail at 10% tolerance")
	}
	within := *base
	within.Baseline = nil
	within.Latencies.P99 = 4300 * time.Microsecond
	within.Throughput = 950
	within.Success = 0.9995
	if !CompareBaseline(&within, base, 0.1) {
		t.Errorf("+7.5%% p99, -5%% throughput, one error in 2000 must pass: %+v", within.Baseline)
	}
	errs := *base
	errs.Baseline = nil
	errs.Success = 0.99
	if CompareBaseline(&errs, base, 0.1) {
		t.Error("1% errors against a clean baseline must fail")
	}
	if _, err := ParseTolerance("10%"); err != nil {
		t.Error(err)
	}
	if v, _ := ParseTolerance("0.25"); v != 0.25 {
		t.Error("0.25")
	}
	for _, in := range []string{"x", "-1%", "5000%"} {
		if _, err := ParseTolerance(in); err == nil {
			t.Errorf("ParseTolerance(%q): want an error", in)
		}
	}
}

// synthetic builds results of one shard: seq i left slips[i] after plan.
func synthetic(l Label, code uint16, slips []time.Duration) []*vegeta.Result {
	name := l.String()
	out := make([]*vegeta.Result, len(slips))
	for i, s := range slips {
		planned := l.Began.Add(l.Pace.PlannedAt(uint64(i)))
		out[i] = &vegeta.Result{Attack: name, Seq: uint64(i), Code: code, Timestamp: planned.Add(s), Latency: time.Millisecond, URL: "http://x/"}
	}
	return out
}

func TestSlip(t *testing.T) {
	began := time.Unix(1700000000, 0)
	l := Label{Scenario: "key-valid", Pace: Constant(1000, time.Second), Shard: Whole, Began: began}
	slips := make([]time.Duration, 100)
	for i := range slips {
		slips[i] = 10 * time.Microsecond
	}
	slips[10] = 5 * time.Millisecond
	slips[20] = 2 * time.Millisecond
	slips[30] = -3 * time.Microsecond // clock noise: counted as 0
	a := NewAggregator(time.Millisecond)
	for _, r := range synthetic(l, 200, slips) {
		a.Add(r)
	}
	rep := a.Report()
	if rep.Late != 2 {
		t.Errorf("late = %d, want 2", rep.Late)
	}
	if rep.Slip.Max < 4990*time.Microsecond || rep.Slip.Max > 5010*time.Microsecond {
		t.Errorf("max slip %s, want 5ms", rep.Slip.Max)
	}
	wantMean := (97*10*time.Microsecond + 7*time.Millisecond) / 100
	if d := rep.Slip.Mean - wantMean; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("mean slip %s, want %s", rep.Slip.Mean, wantMean)
	}
	if rep.FromPlan.Max < 5990*time.Microsecond || rep.FromPlan.Max > 6010*time.Microsecond {
		t.Errorf("latency from plan max %s, want 6ms (5ms slip + 1ms)", rep.FromPlan.Max)
	}
	if rep.AskedRate != 1000 || rep.Shard != "0/1" || rep.Scenario != "key-valid" {
		t.Errorf("asked %v shard %q scenario %q", rep.AskedRate, rep.Shard, rep.Scenario)
	}
}

func TestMergeShards(t *testing.T) {
	began := time.Unix(1700000000, 0)
	whole := Constant(1000, time.Second)
	var files [][]byte
	for i := 0; i < 2; i++ {
		l := Label{Scenario: "key-valid", Pace: whole.Split(2), Shard: Shard{i, 2}, Began: began.Add(time.Duration(i) * 3 * time.Millisecond)}
		var buf bytes.Buffer
		enc := vegeta.NewEncoder(&buf)
		for _, r := range synthetic(l, 200, make([]time.Duration, 500)) {
			if err := enc.Encode(r); err != nil {
				t.Fatal(err)
			}
		}
		files = append(files, buf.Bytes())
	}
	a := NewAggregator(0)
	for i, f := range files {
		if err := a.AddFile("shard"+string(rune('0'+i)), bytes.NewReader(f)); err != nil {
			t.Fatal(err)
		}
	}
	rep := a.Report()
	if rep.Requests != 1000 || rep.StatusCodes["200"] != 1000 || rep.Success != 1 {
		t.Errorf("merged requests %d codes %v success %v", rep.Requests, rep.StatusCodes, rep.Success)
	}
	if rep.AskedRate != 1000 {
		t.Errorf("merged asked rate %v, want 1000 (500 per shard)", rep.AskedRate)
	}
	if rep.Shard != "merged 2" || len(rep.Shards) != 2 {
		t.Errorf("shard %q %v", rep.Shard, rep.Shards)
	}
	if rep.Late != 0 || rep.Slip.Max != 0 {
		t.Errorf("each shard is on its own schedule: slip %+v late %d", rep.Slip, rep.Late)
	}
	if err := a.AddFile("junk", strings.NewReader("not results")); !errors.Is(err, ErrResults) {
		t.Errorf("junk file: %v", err)
	}
}

func rlResult(name string, code int, ts time.Time, reset int64, rem int) *vegeta.Result {
	h := http.Header{}
	h.Set(spec.HeaderRateLimit, "10")
	h.Set(spec.HeaderRateReset, itoa(reset))
	h.Set(spec.HeaderRateRemaining, itoa(int64(rem)))
	if code == 429 {
		h.Set(spec.HeaderRetryAfter, "1")
	}
	return &vegeta.Result{Attack: name, Code: uint16(code), Timestamp: ts, Headers: h}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRateLimitAnalysis(t *testing.T) {
	l := Label{Scenario: "ratelimit", Pace: Constant(100, 3*time.Second), Shard: Whole, Began: time.Now(), RateLimit: 10, RateWindow: time.Second}
	name := l.String()
	a := NewAggregator(0)
	base := time.Now().Unix() + 1
	// window 0 (cut by the start): 10 admitted; window 1: 12 admitted
	// (2 over); window 2: 8 admitted of 30 (2 under); window 3 (cut): 3.
	plan := []struct{ admitted, refused int }{{10, 5}, {12, 18}, {8, 22}, {3, 0}}
	for w, p := range plan {
		ts := time.Unix(base+int64(w)-1, 0)
		for i := 0; i < p.admitted; i++ {
			a.Add(rlResult(name, 200, ts, base+int64(w), max(0, 9-i)))
		}
		for i := 0; i < p.refused; i++ {
			a.Add(rlResult(name, 429, ts, base+int64(w), 0))
		}
	}
	rep := a.Report()
	rl := rep.RateLimit
	if rl == nil {
		t.Fatal("no ratelimit section")
	}
	if rl.OverAdmitted != 2 || rl.UnderAdmitted != 2 || rl.FullWindows != 2 || len(rl.Windows) != 4 {
		t.Errorf("over %d under %d full %d windows %d; want 2 2 2 4", rl.OverAdmitted, rl.UnderAdmitted, rl.FullWindows, len(rl.Windows))
	}
	// window 1 admitted 12 but Remaining only takes 10 distinct values
	if rl.HeaderErrors == 0 {
		t.Error("repeated Remaining among admitted requests must be a header error")
	}
	if rep.Success != 1 {
		t.Errorf("success %v: 2xx and 429 are both expected in ratelimit", rep.Success)
	}
}

func TestExpected(t *testing.T) {
	cases := []struct {
		scen string
		code uint16
		url  string
		want bool
	}{
		{"key-valid", 200, "http://x/", true},
		{"key-valid", 401, "http://x/", false},
		{"key-invalid", 401, "http://x/", true},
		{"key-invalid", 200, "http://x/", false},
		{"key-mixed", 401, "http://x/#invalid", true},
		{"key-mixed", 401, "http://x/#valid", false},
		{"key-mixed", 200, "http://x/#valid", true},
		{"ratelimit", 429, "http://x/", true},
		{"ratelimit", 500, "http://x/", false},
	}
	for _, c := range cases {
		if got, _ := Expected(c.scen, &vegeta.Result{Code: c.code, URL: c.url}); got != c.want {
			t.Errorf("%s %d %s: %v, want %v", c.scen, c.code, c.url, got, c.want)
		}
	}
}

func run(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func TestRunScenariosAgainstFake(t *testing.T) {
	_, tg := newFake(t)
	for _, sc := range []string{"key-valid", "key-invalid", "key-mixed", "jwt-verify", "login", "refresh"} {
		t.Run(sc, func(t *testing.T) {
			var res bytes.Buffer
			rep := run(t, Config{Scenario: sc, Target: tg, Pace: Constant(100, time.Second), Results: &res})
			if rep.Requests != 100 {
				t.Errorf("requests %d, want 100", rep.Requests)
			}
			if rep.Success != 1 {
				t.Errorf("success %v, codes %v, errors %v", rep.Success, rep.StatusCodes, rep.Errors)
			}
			for _, sec := range tg.Secrets() {
				if bytes.Contains(res.Bytes(), []byte(sec)) {
					t.Errorf("results file holds a secret")
				}
			}
			a := NewAggregator(0)
			if err := a.AddFile("res", &res); err != nil {
				t.Fatal(err)
			}
			if re := a.Report(); re.Requests != rep.Requests || re.Success != rep.Success || re.Scenario != sc {
				t.Errorf("re-report %d/%v/%s differs from %d/%v", re.Requests, re.Success, re.Scenario, rep.Requests, rep.Success)
			}
		})
	}
}

func TestRunRateLimitFake(t *testing.T) {
	f, tg := newFake(t)
	rep := run(t, Config{Scenario: "ratelimit", Target: tg, Pace: Constant(200, 2500*time.Millisecond), Connections: 64, Workers: 64})
	rl := rep.RateLimit
	if rl == nil || rl.OverAdmitted != 0 || rl.HeaderErrors != 0 {
		t.Fatalf("exact limiter: %+v", rl)
	}
	f.mu.Lock()
	f.overRL = true
	f.mu.Unlock()
	rep = run(t, Config{Scenario: "ratelimit", Target: tg, Pace: Constant(200, 2500*time.Millisecond), Connections: 64, Workers: 64})
	if rep.RateLimit.OverAdmitted == 0 {
		t.Errorf("an over-admitting limiter must show overAdmitted > 0: %+v", rep.RateLimit)
	}
}

func TestRunUsageErrors(t *testing.T) {
	_, tg := newFake(t)
	for _, c := range []struct {
		scen  string
		shard Shard
	}{{"provision-race", Whole}, {"mqtt-connect", Whole}, {"key-valid", Shard{3, 4}}, {"nope", Whole}} {
		_, err := Run(context.Background(), Config{Scenario: c.scen, Target: tg, Pace: Constant(10, time.Second), Shard: c.shard})
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%s shard %s: %v, want ErrUsage", c.scen, c.shard, err)
		}
	}
}

func TestShardsMergeLikeOneAttack(t *testing.T) {
	_, tg := newFake(t)
	// 300/s splits evenly into 3 × 100/s; a rate that does not divide
	// may send one request more per shard (vegeta sends the hit planned
	// just after the end when its wait began before the end).
	one := run(t, Config{Scenario: "key-valid", Target: tg, Pace: Constant(300, time.Second)})
	var bufs [3]bytes.Buffer
	done := make(chan *Report, 3)
	for i := 0; i < 3; i++ {
		go func(i int) {
			rep, err := Run(context.Background(), Config{Scenario: "key-valid", Target: tg, Pace: Constant(300, time.Second), Shard: Shard{i, 3}, Results: &bufs[i]})
			if err != nil {
				t.Error(err)
			}
			done <- rep
		}(i)
	}
	for i := 0; i < 3; i++ {
		<-done
	}
	a := NewAggregator(0)
	for i := range bufs {
		if err := a.AddFile("shard", &bufs[i]); err != nil {
			t.Fatal(err)
		}
	}
	merged := a.Report()
	if merged.Requests != one.Requests || merged.StatusCodes["200"] != one.StatusCodes["200"] {
		t.Errorf("merged %d (%v) vs one attack %d (%v)", merged.Requests, merged.StatusCodes, one.Requests, one.StatusCodes)
	}
	if merged.AskedRate != 300 || merged.Shard != "merged 3" {
		t.Errorf("merged asked %v shard %q", merged.AskedRate, merged.Shard)
	}
}

// Every scenario is a complete value: help, expectation, success rule,
// preparation, a default rate and duration; names are unique.
func TestScenarioRegistry(t *testing.T) {
	seen := map[string]bool{}
	tg := &spec.Target{RateLimited: spec.RateLimited{Limit: 10, Window: spec.Duration(time.Second)}}
	for _, s := range All() {
		if s.Name == "" || s.Help == "" || s.Expect == "" || s.Success == nil || s.Prepare == nil || s.Needs == "" {
			t.Errorf("scenario %q is incomplete: %+v", s.Name, s)
		}
		if seen[s.Name] {
			t.Errorf("scenario %q registered twice", s.Name)
		}
		seen[s.Name] = true
		if s.Rate(tg) <= 0 || s.Duration(tg) <= 0 {
			t.Errorf("%s: default rate %v duration %v", s.Name, s.Rate(tg), s.Duration(tg))
		}
		if !strings.Contains(Usage(), s.Name+" ") {
			t.Errorf("%s missing from Usage", s.Name)
		}
	}
	if r, ok := Lookup("ratelimit"); !ok || r.Rate(tg) != 200 || r.Duration(tg) != 5*time.Second {
		t.Errorf("ratelimit defaults: 20x a 10/s budget = 200/s over at least 5s")
	}
	if len(Scenarios) != len(All()) {
		t.Errorf("Scenarios %v", Scenarios)
	}
}
