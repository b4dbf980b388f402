// Command bench is `make bench`: it measures what authentication costs on
// the reference's hot path. It runs the key-valid scenario against the
// reference and against a bare net/http handler that answers the same
// bytes without any auth, with the same server settings and connection
// count. It searches each one's maximum sustainable throughput (success
// >= 0.999, p99 <= --p99, achieved rate >= 98 % of asked; doubling then
// bisecting 2-second steps; informative: the search is moved by other
// load on a shared machine), then measures each server's CPU time per
// request in interleaved trials at one constant rate both sustain, and
// prints `ratio X.XX` (bare CPU per request / reference CPU per request,
// medians) as its last line, with the generator's headroom (attacker CPU
// share, achieved / asked) before it. docs/load.md says why.
//
// Each server runs in its own child process (this binary re-executed with
// -serve), so the attacker's goroutines do not share a Go scheduler with
// the server; on a small machine they still share the CPU cores, which
// both servers suffer alike.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

func main() {
	serve := flag.String("serve", "", "internal: serve 'reference' or 'bare' and print its URL")
	body := flag.String("body", "", "internal: file with the bare handler's answer")
	targetOut := flag.String("target-out", "", "internal: where the reference child writes its target file")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the reference child to this file")
	profile := flag.String("profile", string(spec.AllProfiles[0]), "profile of the reference")
	p99 := flag.Duration("p99", 10*time.Millisecond, "p99 bound of a sustainable rate")
	step := flag.Duration("step", 2*time.Second, "duration of each search step")
	fixed := flag.Float64("fixed", 0, "constant rate (req/s) of the CPU trials, where both servers' CPU per request, p99 and the ratio are measured (0: 70% of the lower max sustainable rate, or 20000 with -search=false)")
	conns := flag.Int("connections", 64, "connections to each server")
	maxRate := flag.Float64("max-rate", 256000, "stop doubling here")
	runs := flag.Int("runs", 1, "whole runs (search + CPU trials; servers kept); with more than one, each run's ratio, the spread, and the median as the last line")
	search := flag.Bool("search", true, "search each server's max sustainable rate (false: CPU trials only)")
	trials := flag.Int("trials", 5, "interleaved CPU trials per server and run (odd: the median is one trial)")
	generator := flag.Bool("generator", false, "measure the attacker instead: its CPU per request against wrk's (make bench-generator)")
	rounds := flag.Int("rounds", 3, "-generator: interleaved rounds of wrk and ours")
	genDur := flag.Duration("gen-duration", 3*time.Second, "-generator: duration of each round")
	genRate := flag.Float64("gen-rate", 0, "-generator: our constant rate (0: 60% of wrk's rate in a calibration round)")
	genVegeta := flag.Bool("gen-vegeta", true, "-generator: also measure the vegeta engine once, for comparison")
	genProcs := flag.Int("gen-procs", 1, "-generator: GOMAXPROCS while our attacker runs (1: one thread running Go code, like wrk -t1; 0: all cores)")
	flag.Parse()
	switch *serve {
	case "reference":
		os.Exit(serveReference(spec.ProfileName(*profile), *targetOut, *cpuprofile))
	case "bare":
		os.Exit(serveBare(*body))
	case "":
	default:
		fmt.Fprintf(os.Stderr, "bench: -serve %q: want reference or bare\n", *serve)
		os.Exit(2)
	}
	if *generator {
		os.Exit(benchGenerator(generatorConfig{profile: spec.ProfileName(*profile), conns: *conns, rounds: *rounds, duration: *genDur, rate: *genRate, vegeta: *genVegeta, procs: *genProcs}))
	}
	os.Exit(bench(benchConfig{profile: spec.ProfileName(*profile), p99: *p99, step: *step, fixed: *fixed, conns: *conns, maxRate: *maxRate, cpuprofile: *cpuprofile, runs: *runs, trials: *trials, search: *search}))
}

type benchConfig struct {
	profile    spec.ProfileName
	p99, step  time.Duration
	fixed      float64
	conns      int
	maxRate    float64
	cpuprofile string
	runs       int
	trials     int
	search     bool
}

// serveReference serves the reference with an unthrottling key budget (the
// rate limiter still runs on every request, which is what is measured).
func serveReference(p spec.ProfileName, targetOut, cpuprofile string) int {
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	s, err := reference.New(reference.Config{Profile: p, RateLimit: 1 << 30, RateWindow: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: reference: %v\n", err)
		return 1
	}
	url, err := serve(s.Handler())
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	if err := s.Target(url).WriteFile(targetOut); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	fmt.Println(url)
	waitForParent()
	return 0
}

// serve runs h on a loopback listener with the reference's own server
// settings (reference.Start), for both the reference and the bare handler:
// the two differ only in their handler, so the ratio measures what
// authentication, rate limiting and tenancy cost, not server tuning.
func serve(h http.Handler) (string, error) {
	srv := &http.Server{Handler: h, MaxHeaderBytes: reference.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	ln, err := listen()
	if err != nil {
		return "", err
	}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

// serveBare answers every request with the same bytes the reference sends
// for the benchmarked resource, without looking at any credential.
func serveBare(bodyFile string) int {
	b, err := os.ReadFile(bodyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	url, err := serve(h)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	fmt.Println(url)
	waitForParent()
	return 0
}

// waitForParent returns when stdin closes (the parent exited or is done)
// or on SIGTERM/SIGINT.
func waitForParent() {
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-done:
	case <-sig:
	}
}

type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	url   string
}

func startChild(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("child %v did not start: %v", args, err)
	}
	return &child{cmd: cmd, stdin: in, url: strings.TrimSpace(line)}, nil
}

// stop closes the child's stdin (it exits, writing its profile) and
// waits; it kills only this child, by its own process, after a grace time.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

type result struct {
	max float64
	// the generator's headroom at max: attacker CPU as a share of the
	// machine (all cores) and achieved ÷ asked
	atkShare, achieved float64
	fixedP99           time.Duration
	fixedRate          float64
	fixedOK            float64
	cpuPerReq          time.Duration // server CPU (user+sys) per request at the fixed rate: median trial
	cpuMin, cpuMax     time.Duration // fastest and slowest trial
	fixedShare         float64       // attacker CPU share in the median trial
	trials             int
}

// attack runs key-valid (the fast engine: the attacker must not be the
// limit, see make bench-generator) and returns the attacker's CPU share
// of the machine over it (this process's CPU / (wall time × cores)).
func attack(t *spec.Target, rate float64, d time.Duration, conns int) (*loadgen.Report, float64, error) {
	cpu0, t0 := selfCPU(), time.Now()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Scenario: "key-valid", Target: t, Pace: loadgen.Constant(rate, d), Connections: conns, Workers: 32,
	})
	share := float64(selfCPU()-cpu0) / (float64(time.Since(t0)) * float64(runtime.NumCPU()))
	return rep, share, err
}

func sustainable(rep *loadgen.Report, rate float64, p99 time.Duration) bool {
	return rep.Success >= 0.999 && rep.Latencies.P99 <= p99 && rep.Rate >= 0.98*rate
}

// searcher finds one server's maximum sustainable rate: doubling from
// 1000/s until a step fails, then five bisections.
type searcher struct {
	name       string
	t          *spec.Target
	pid        int
	lo, hi     float64
	bisections int
	next       float64
	res        result
}

func (s *searcher) done() bool { return s.next == 0 }

func (s *searcher) feed(ok bool, maxRate float64, share, achieved float64) {
	rate := s.next
	s.res.trials++
	if ok {
		s.lo = rate
		if rate > s.res.max {
			s.res.max = rate
			s.res.atkShare, s.res.achieved = share, achieved
		}
	} else {
		s.hi = rate
	}
	switch {
	case s.hi == 0 && rate*2 <= maxRate:
		s.next = rate * 2
	case s.hi == 0 || s.bisections >= 5:
		s.next = 0
	default:
		s.bisections++
		s.next = (s.lo + s.hi) / 2
		if s.lo == 0 {
			s.next = s.hi / 2
		}
	}
}

// recheck tries the server with the lower maximum at the other's
// maximum (up to three times, as a search step): on a shared machine a
// burst of someone else's load during one step caps a search early, and
// the ratio would report the noise. A failure confirms the gap. A pass
// means the lower search was capped by noise: it resumes upward from
// there (so that a capped bare server does not read as equal to the
// reference).
func recheck(ss []*searcher, c benchConfig) error {
	lo, hi := ss[0], ss[1]
	if lo.res.max > hi.res.max {
		lo, hi = hi, lo
	}
	if lo.res.max == hi.res.max || hi.res.max == 0 {
		return nil
	}
	rate := hi.res.max
	for try := 0; try < 3; try++ {
		rep, sh, err := attack(lo.t, rate, c.step, c.conns)
		if err != nil {
			return fmt.Errorf("%s: %v", lo.name, err)
		}
		ok := sustainable(rep, rate, c.p99)
		fmt.Fprintf(os.Stderr, "bench: recheck %-9s at %s's max %7.0f/s  achieved %8.1f/s  success %.4f  p99 %-10s attacker CPU %4.1f%%  %s\n",
			lo.name, hi.name, rate, rep.Rate, rep.Success, rep.Latencies.P99.Round(time.Microsecond), 100*sh, map[bool]string{true: "ok", false: "NOT sustained"}[ok])
		lo.res.trials++
		if ok {
			lo.res.max, lo.res.atkShare, lo.res.achieved = rate, sh, rep.Rate/rate
			lo.lo, lo.hi, lo.bisections, lo.next = rate, 0, 2, rate*1.125
			if lo.next > c.maxRate {
				return nil
			}
			fmt.Fprintf(os.Stderr, "bench: %s's search was capped by noise; resuming from %.0f/s\n", lo.name, rate)
			return searchBoth([]*searcher{lo}, c)
		}
	}
	return nil
}

// searchBoth steps both searches in turn, so that the other load on a
// shared machine hits both alike.
func searchBoth(ss []*searcher, c benchConfig) error {
	for {
		active := false
		for _, s := range ss {
			if s.done() {
				continue
			}
			active = true
			rate := s.next
			// A failed step is tried twice more: on a shared machine a
			// spike of someone else's load must not end the search.
			ok := false
			var share, achieved float64
			for try := 0; try < 3 && !ok; try++ {
				rep, sh, err := attack(s.t, rate, c.step, c.conns)
				if err != nil {
					return fmt.Errorf("%s: %v", s.name, err)
				}
				ok = sustainable(rep, rate, c.p99)
				share, achieved = sh, rep.Rate/rate
				fmt.Fprintf(os.Stderr, "bench: %-9s %7.0f/s  achieved %8.1f/s  success %.4f  p99 %-10s slip p99 %-10s attacker CPU %4.1f%%  %s\n",
					s.name, rate, rep.Rate, rep.Success, rep.Latencies.P99.Round(time.Microsecond), rep.Slip.P99.Round(time.Microsecond), 100*sh, map[bool]string{true: "ok", false: "NOT sustained"}[ok])
			}
			s.feed(ok, c.maxRate, share, achieved)
		}
		if !active {
			return nil
		}
	}
}

// cpuTrials measures each server's CPU time per request (from /proc) at
// the same constant rate c.fixed, in c.trials interleaved pairs of 3 s
// attacks (the order alternates, ref-bare then bare-ref, so that a burst
// of someone else's load on a shared machine hits both alike), and keeps
// each server's median trial. It returns every pair's ratio (bare CPU per
// request / reference CPU per request) so the spread can be shown.
func cpuTrials(ss []*searcher, c benchConfig) ([]float64, error) {
	type trial struct {
		cpu      time.Duration
		p99      time.Duration
		rate, ok float64
		share    float64
	}
	per := make([][]trial, len(ss))
	var pairs []float64
	// One discarded second per server first: connections, the servers'
	// heaps and the caches settle, so the first trial is not an outlier.
	for _, s := range ss {
		if _, _, err := attack(s.t, c.fixed, time.Second, c.conns); err != nil {
			return nil, fmt.Errorf("%s: %v", s.name, err)
		}
	}
	for i := 0; i < c.trials; i++ {
		order := []int{0, 1}
		if i%2 == 1 {
			order = []int{1, 0}
		}
		got := make([]trial, len(ss))
		for _, j := range order {
			s := ss[j]
			cpu0, cpuOK := procCPU(s.pid)
			rep, sh, err := attack(s.t, c.fixed, 3*time.Second, c.conns)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", s.name, err)
			}
			cpu1, _ := procCPU(s.pid)
			if !cpuOK || rep.Requests == 0 {
				return nil, fmt.Errorf("%s: cannot read the server's CPU time from /proc (Linux only)", s.name)
			}
			tr := trial{cpu: (cpu1 - cpu0) / time.Duration(rep.Requests), p99: rep.Latencies.P99, rate: rep.Rate, ok: rep.Success, share: sh}
			got[j] = tr
			per[j] = append(per[j], tr)
			fmt.Fprintf(os.Stderr, "bench: cpu trial %d %-9s at %.0f/s  achieved %8.1f/s  success %.4f  p99 %-10s server CPU %-8s/request  attacker CPU %4.1f%%\n",
				i+1, s.name, c.fixed, rep.Rate, rep.Success, rep.Latencies.P99.Round(time.Microsecond), tr.cpu.Round(100*time.Nanosecond), 100*sh)
		}
		if got[0].cpu > 0 {
			pairs = append(pairs, float64(got[1].cpu)/float64(got[0].cpu))
		}
	}
	for j, s := range ss {
		ts := per[j]
		sort.Slice(ts, func(a, b int) bool { return ts[a].cpu < ts[b].cpu })
		m := ts[len(ts)/2]
		s.res.cpuPerReq, s.res.fixedP99, s.res.fixedRate, s.res.fixedOK, s.res.fixedShare = m.cpu, m.p99, m.rate, m.ok, m.share
		s.res.cpuMin, s.res.cpuMax = ts[0].cpu, ts[len(ts)-1].cpu
	}
	return pairs, nil
}

// procCPU reads a process's user+system CPU time from /proc (Linux; 10 ms
// resolution, enough over thousands of requests).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	var ut, st int64
	if _, err := fmt.Sscan(f[11], &ut); err != nil {
		return 0, false
	}
	if _, err := fmt.Sscan(f[12], &st); err != nil {
		return 0, false
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, true
}

func bench(c benchConfig) int {
	dir, err := os.MkdirTemp("", "authconform-bench-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	args := []string{"-serve", "reference", "-profile", string(c.profile), "-target-out", filepath.Join(dir, "target.json")}
	if c.cpuprofile != "" {
		args = append(args, "-cpuprofile", c.cpuprofile)
	}
	ref, err := startChild(args...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer ref.stop()
	t, err := spec.LoadTarget(filepath.Join(dir, "target.json"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	// The bare handler answers exactly what the reference answers.
	body, err := sample(t)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	bodyFile := filepath.Join(dir, "body.json")
	if err := os.WriteFile(bodyFile, body, 0o600); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	bare, err := startChild("-serve", "bare", "-body", bodyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer bare.stop()
	bt := *t
	bt.BaseURL = bare.url

	fmt.Printf("bench: key-valid (%s), %d connections, %s steps, sustainable = success >= 0.999, p99 <= %s, rate >= 98%% of asked\n",
		c.profile, c.conns, c.step, c.p99)
	fmt.Printf("bench: servers in child processes; attacker in this process; %d bytes per answer\n", len(body))
	if l, ok := loadAvg(); ok && l > float64(runtime.NumCPU()) {
		fmt.Printf("bench: warning: load average %.1f on %d cores before the run; the throughput numbers will be noisy\n", l, runtime.NumCPU())
	}
	if c.runs < 1 {
		c.runs = 1
	}
	if c.trials < 1 {
		c.trials = 1
	}
	var ratios []float64
	for run := 1; run <= c.runs; run++ {
		if c.runs > 1 {
			fmt.Printf("bench: run %d of %d\n", run, c.runs)
		}
		r, ok := benchRun(c, t, &bt, ref, bare, body)
		if !ok {
			return 1
		}
		ratios = append(ratios, r)
	}
	ratio := ratios[0]
	if len(ratios) > 1 {
		sorted := append([]float64{}, ratios...)
		sort.Float64s(sorted)
		ratio = sorted[len(sorted)/2]
		parts := make([]string, len(ratios))
		for i, r := range ratios {
			parts[i] = fmt.Sprintf("%.2f", r)
		}
		fmt.Printf("ratios over %d runs: %s; spread %.2f (goal: within ±0.05); median below\n", len(ratios), strings.Join(parts, " "), sorted[len(sorted)-1]-sorted[0])
	}
	// The ratio is what authentication, rate limiting and tenancy add to
	// a request's server CPU: 0.9 means they cost 10 % of it (see
	// docs/load.md for why CPU per request and not the throughput ratio).
	fmt.Printf("ratio %.2f\n", ratio)
	return 0
}

// benchRun is one search of both servers' maxima plus the fixed-rate
// measurements; it prints its lines and returns reference max / bare max.
func benchRun(c benchConfig, t, bt *spec.Target, ref, bare *child, body []byte) (float64, bool) {
	ss := []*searcher{
		{name: "reference", t: t, pid: ref.cmd.Process.Pid, next: 1000},
		{name: "bare", t: bt, pid: bare.cmd.Process.Pid, next: 1000},
	}
	if c.search {
		if err := searchBoth(ss, c); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return 0, false
		}
		if err := recheck(ss, c); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return 0, false
		}
	}
	if c.fixed <= 0 {
		// 70 % of the lower max: both servers sustain it (the attacker's
		// schedule sets the pace, no queue builds up: at overload the
		// slower server would batch less per wake-up and read worse than
		// it is), and it is busy enough that per-request CPU is not
		// dominated by idle wake-ups, which cost both servers alike and
		// would dilute the ratio towards 1.
		c.fixed = 20000
		if lo := math.Min(ss[0].res.max, ss[1].res.max); lo > 0 {
			c.fixed = math.Max(1000, math.Round(0.7*lo/500)*500)
		}
	}
	pairs, err := cpuTrials(ss, c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 0, false
	}
	refRes, bareRes := ss[0].res, ss[1].res
	for _, s := range ss {
		fmt.Printf("%-10s max sustainable %7.0f req/s (%d steps)   at %.0f/s (median of %d trials): p99 %s, achieved %.1f/s, success %.4f, server CPU %s/request (trials %s–%s)\n",
			s.name, s.res.max, s.res.trials, c.fixed, c.trials, s.res.fixedP99.Round(time.Microsecond), s.res.fixedRate, s.res.fixedOK,
			s.res.cpuPerReq.Round(100*time.Nanosecond), s.res.cpuMin.Round(100*time.Nanosecond), s.res.cpuMax.Round(100*time.Nanosecond))
	}
	// Handler only, in this process, no network: what the reference's
	// request path costs before the kernel and net/http get involved.
	refH, bareH, err := handlerCosts(c.profile, t, body)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: handler benchmark: %v\n", err)
	} else {
		fmt.Printf("handler only (in-process, no network): reference %s/op %d B/op %d allocs/op; bare %s/op %d B/op %d allocs/op\n",
			time.Duration(refH.NsPerOp()), refH.AllocedBytesPerOp(), refH.AllocsPerOp(),
			time.Duration(bareH.NsPerOp()), bareH.AllocedBytesPerOp(), bareH.AllocsPerOp())
	}
	for _, s := range ss {
		fmt.Printf("generator headroom at %s's max (%.0f/s): attacker CPU %.1f%% of the machine (%d cores), achieved %.3f of asked; in the CPU trials at %.0f/s: attacker CPU %.1f%%, achieved %.3f of asked\n",
			s.name, s.res.max, 100*s.res.atkShare, runtime.NumCPU(), s.res.achieved, c.fixed, 100*s.res.fixedShare, s.res.fixedRate/c.fixed)
	}
	if bareRes.max > 0 {
		fmt.Printf("throughput ratio %.2f (reference max / bare max: a pass/fail search on p99, moved by other load on a shared machine)\n", refRes.max/bareRes.max)
	}
	parts := make([]string, len(pairs))
	for i, r := range pairs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	fmt.Printf("cpu ratio per interleaved pair: %s\n", strings.Join(parts, " "))
	ratio := 0.0
	if refRes.cpuPerReq > 0 {
		ratio = float64(bareRes.cpuPerReq) / float64(refRes.cpuPerReq)
	}
	fmt.Printf("run ratio %.2f (bare server CPU per request %s / reference %s, medians)\n", ratio,
		bareRes.cpuPerReq.Round(100*time.Nanosecond), refRes.cpuPerReq.Round(100*time.Nanosecond))
	return ratio, true
}

// sampleRequest is the benchmarked request: the admin's key on the
// profile's protected resource.
func sampleRequest(t *spec.Target) (*http.Request, error) {
	p := spec.MustGet(t.Profile)
	if p.UserKeyPrefix == "" {
		return nil, fmt.Errorf("bench: -profile %s has no user API keys; use a profile with userKeyPrefix (%s)", t.Profile, strings.Join(spec.Names(), ", "))
	}
	rel := p.Resources.Path(p.Resources.Protected, t)
	req, err := http.NewRequest(http.MethodGet, p.URL(t.BaseURL, rel), nil)
	if err != nil {
		return nil, err
	}
	switch p.Transports[0] {
	case spec.TransportRawAuthorization:
		req.Header.Set("Authorization", t.Principals.Admin.APIKey)
	default:
		req.Header.Set("Authorization", "Bearer "+t.Principals.Admin.APIKey)
	}
	return req, nil
}

// sample fetches one answer of the benchmarked resource.
func sample(t *spec.Target) ([]byte, error) {
	req, err := sampleRequest(t)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("sample %s: status %d", req.URL.Path, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, loadgen.MaxBody))
}

// handlerCosts benchmarks the reference's handler and the bare handler on
// the same request with httptest (testing.Benchmark, about a second each).
func handlerCosts(p spec.ProfileName, t *spec.Target, body []byte) (ref, bare testing.BenchmarkResult, err error) {
	srv, err := reference.New(reference.Config{Profile: p, RateLimit: 1 << 30, RateWindow: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return ref, bare, err
	}
	// The in-process server has its own fresh fixtures; its target names
	// the same fixture keys.
	lt := srv.Target("http://127.0.0.1")
	req, err := sampleRequest(lt)
	if err != nil {
		return ref, bare, err
	}
	run := func(h http.Handler) testing.BenchmarkResult {
		return testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
	ref = run(srv.Handler())
	bare = run(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	return ref, bare, nil
}

// loadAvg is the 1-minute load average (Linux).
func loadAvg() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return 0, false
	}
	return l, true
}
