package main

// `make bench-generator`: the attacker's own CPU per request, ours against
// wrk's, same target (the reference in a child process), same connection
// count, same run. wrk is closed loop at full speed (it has no rate); ours
// is open loop at a constant rate, by default 60 % of what wrk achieved in
// a calibration round: below the server's capacity, so the plan holds,
// and busy enough to compare with a closed loop (on loopback the CPU per
// request of both ends falls with the rate: at low rates every request
// wakes a sleeping thread on each side, in the kernel's TCP path). Rounds
// interleave (wrk, ours, wrk, ours, ...) so that other load on a shared
// machine hits both; the medians are compared. Last line: `ratio X.XX` =
// ours / wrk (goal <= 2).

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/spec"
)

type generatorConfig struct {
	profile  spec.ProfileName
	conns    int
	rounds   int
	duration time.Duration
	rate     float64 // 0: 60 % of wrk's rate in a calibration round
	vegeta   bool    // also measure the vegeta engine once
	procs    int     // GOMAXPROCS of this process while ours runs (0: unchanged)
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)
var wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
var wrkSocketErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)

type genRound struct {
	requests uint64
	cpu      time.Duration
	rate     float64
	detail   string
}

func (r genRound) perRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

// runWrk runs wrk with one thread (wrk's own CPU, from its rusage) and
// parses its request count. The credential is in wrk's arguments, never
// printed.
func runWrk(wrk string, t *spec.Target, c generatorConfig) (genRound, error) {
	req, err := sampleRequest(t)
	if err != nil {
		return genRound{}, err
	}
	args := []string{"-t1", fmt.Sprintf("-c%d", c.conns), fmt.Sprintf("-d%ds", int(math.Ceil(c.duration.Seconds())))}
	for k, vs := range req.Header {
		for _, v := range vs {
			args = append(args, "-H", k+": "+v)
		}
	}
	args = append(args, req.URL.String())
	cmd := exec.Command(wrk, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return genRound{}, fmt.Errorf("wrk: %v: %s", err, spec.Mask(out.String(), t.Secrets()))
	}
	m := wrkRequests.FindStringSubmatch(out.String())
	if m == nil {
		return genRound{}, fmt.Errorf("wrk: no request count in its output: %s", spec.Mask(out.String(), t.Secrets()))
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	r := genRound{requests: n, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	r.rate = float64(n) / c.duration.Seconds()
	bad := "all 2xx"
	if m := wrkNon2xx.FindStringSubmatch(out.String()); m != nil {
		bad = m[1] + " non-2xx"
	}
	if m := wrkSocketErrs.FindStringSubmatch(out.String()); m != nil {
		bad += ", socket errors " + m[0][len("Socket errors: "):]
	}
	r.detail = fmt.Sprintf("closed loop, %.0f/s, %s", r.rate, bad)
	return r, nil
}

// runOurs runs the key-valid attack in this process (the server is a
// child process) and measures this process's CPU over it.
func runOurs(t *spec.Target, c generatorConfig, rate float64, engine string) (genRound, error) {
	if c.procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(c.procs))
	}
	cpu0 := selfCPU()
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Scenario: "key-valid", Target: t, Pace: loadgen.Constant(rate, c.duration), Connections: c.conns,
		Workers: 32, Engine: engine,
	})
	cpu := selfCPU() - cpu0
	if err != nil {
		return genRound{}, err
	}
	r := genRound{requests: rep.Requests, cpu: cpu, rate: rep.Rate}
	r.detail = fmt.Sprintf("open loop at %.0f/s, achieved %.0f/s, success %.4f, slip p99 %s, late %.1f%%",
		rate, rep.Rate, rep.Success, rep.Slip.P99.Round(time.Microsecond), 100*float64(rep.Late)/math.Max(1, float64(rep.Requests)))
	return r, nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func benchGenerator(c generatorConfig) int {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Println("bench-generator: skipped: wrk is not installed (Debian: apt-get install wrk; .ci/run installs it)")
		return 0
	}
	dir, err := os.MkdirTemp("", "authconform-bench-gen-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ref, err := startChild("-serve", "reference", "-profile", string(c.profile), "-target-out", filepath.Join(dir, "target.json"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
		return 1
	}
	defer ref.stop()
	t, err := spec.LoadTarget(filepath.Join(dir, "target.json"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
		return 1
	}
	procs := "all cores"
	if c.procs > 0 {
		procs = fmt.Sprintf("GOMAXPROCS=%d, like wrk -t1", c.procs)
	}
	fmt.Printf("bench-generator: key-valid (%s) against the reference (child process), %d connections, %d rounds of %s each; attacker CPU = user+system of the attacking process; ours with %s\n",
		c.profile, c.conns, c.rounds, c.duration, procs)
	// warm-up: connections, the server's caches, the page cache of wrk
	if _, err := runOurs(t, generatorConfig{conns: c.conns, duration: time.Second}, 2000, loadgen.EngineFast); err != nil {
		fmt.Fprintf(os.Stderr, "bench-generator: warm-up: %v\n", err)
		return 1
	}
	var wrkPer, oursPer []time.Duration
	rate := c.rate
	if rate == 0 {
		cal := c
		cal.duration = 2 * time.Second
		w, err := runWrk(wrk, t, cal)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
			return 1
		}
		rate = math.Max(1000, math.Round(0.6*w.rate/1000)*1000)
		fmt.Printf("calibration: wrk %.0f/s closed loop; ours will run open loop at %.0f/s (60 %%; -gen-rate sets it)\n", w.rate, rate)
	}
	for i := 1; i <= c.rounds; i++ {
		w, err := runWrk(wrk, t, c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
			return 1
		}
		wrkPer = append(wrkPer, w.perRequest())
		fmt.Printf("wrk   round %d: %7d requests, CPU %-8s = %-9s/request  (%s)\n", i, w.requests, w.cpu.Round(time.Millisecond), w.perRequest().Round(100*time.Nanosecond), w.detail)
		o, err := runOurs(t, c, rate, loadgen.EngineFast)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-generator: %v\n", err)
			return 1
		}
		oursPer = append(oursPer, o.perRequest())
		fmt.Printf("ours  round %d: %7d requests, CPU %-8s = %-9s/request  (%s)\n", i, o.requests, o.cpu.Round(time.Millisecond), o.perRequest().Round(100*time.Nanosecond), o.detail)
	}
	if c.vegeta {
		short := c
		short.duration = 2 * time.Second
		v, err := runOurs(t, short, rate, loadgen.EngineVegeta)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-generator: vegeta engine: %v\n", err)
		} else {
			fmt.Printf("vegeta engine (for comparison, once): %d requests, CPU %s = %s/request  (%s)\n", v.requests, v.cpu.Round(time.Millisecond), v.perRequest().Round(100*time.Nanosecond), v.detail)
		}
	}
	mw, mo := median(wrkPer), median(oursPer)
	fmt.Printf("wrk  CPU per request (median of %d): %s\n", c.rounds, mw.Round(100*time.Nanosecond))
	fmt.Printf("ours CPU per request (median of %d): %s   (goal: at most 2 x wrk's)\n", c.rounds, mo.Round(100*time.Nanosecond))
	if mw <= 0 {
		fmt.Fprintln(os.Stderr, "bench-generator: wrk measured no CPU")
		return 1
	}
	fmt.Printf("ratio %.2f\n", float64(mo)/float64(mw))
	return 0
}
