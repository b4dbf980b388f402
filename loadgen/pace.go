package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Pace is the schedule of an attack: a constant rate, or a linear ramp from
// From to To requests per second over Duration. It knows when each request
// was planned to leave, which is what schedule slip is measured against.
type Pace struct {
	// From is the rate at the start (req/s); To the rate at the end. A
	// constant pace has From == To and Ramp false.
	From, To float64
	Ramp     bool
	Duration time.Duration
	// Burst > 1 groups requests into bursts of this size that leave
	// together, at the planned time of the burst's last request: the mean
	// rate is unchanged, the requests overlap (races need that).
	Burst int
}

// ParseRate reads "1000", "1000/s", "500/1s", "60/m", "30000/1m".
func ParseRate(s string) (float64, error) {
	num, per := s, "1s"
	if i := strings.IndexByte(s, '/'); i >= 0 {
		num, per = s[:i], s[i+1:]
		if per != "" && (per[0] < '0' || per[0] > '9') {
			per = "1" + per
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a rate; write it as 1000 or 1000/s", s)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q has a bad unit %q; write it as 1000/s or 60/m", s, per)
	}
	r := f / d.Seconds()
	if r <= 0 {
		return 0, fmt.Errorf("%q must be above 0 requests per second", s)
	}
	if r > 1e7 {
		return 0, fmt.Errorf("%q is above 10000000/s; give a reachable rate", s)
	}
	return r, nil
}

// ParseRamp reads "A:B" (rates as in ParseRate), a linear ramp from A to B.
func ParseRamp(s string) (from, to float64, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%q is not a ramp; write it as FROM:TO, e.g. 100:2000", s)
	}
	if from, err = ParseRate(a); err != nil {
		return 0, 0, err
	}
	if to, err = ParseRate(b); err != nil {
		return 0, 0, err
	}
	return from, to, nil
}

// Constant is a constant pace of r requests per second for d.
func Constant(r float64, d time.Duration) Pace { return Pace{From: r, To: r, Duration: d} }

// Linear is a ramp from a to b requests per second over d.
func Linear(a, b float64, d time.Duration) Pace {
	return Pace{From: a, To: b, Ramp: true, Duration: d}
}

// Split returns the pace of one of n shards: every rate divided by n.
func (p Pace) Split(n int) Pace {
	if n <= 1 {
		return p
	}
	p.From /= float64(n)
	p.To /= float64(n)
	return p
}

// Asked is the mean planned rate over the whole duration (req/s).
func (p Pace) Asked() float64 {
	if !p.Ramp {
		return p.From
	}
	return (p.From + p.To) / 2
}

// Planned is the number of requests the pace plans over its duration.
func (p Pace) Planned() float64 { return p.Asked() * p.Duration.Seconds() }

// rate returns vegeta's Rate for r req/s: exact for integral rates, else
// per 1000 s so fractional shard rates keep three decimals.
func rate(r float64) vegeta.Rate {
	if r == math.Trunc(r) && r < math.MaxInt32 {
		return vegeta.Rate{Freq: int(r), Per: time.Second}
	}
	return vegeta.Rate{Freq: int(math.Round(r * 1000)), Per: 1000 * time.Second}
}

// Pacer returns the vegeta pacer: ConstantPacer or LinearPacer, or for a
// bursty pace one that follows PlannedAt.
func (p Pace) Pacer() vegeta.Pacer {
	if p.Burst > 1 {
		return burstPacer{p}
	}
	if !p.Ramp {
		return rate(p.From)
	}
	slope := 0.0
	if s := p.Duration.Seconds(); s > 0 {
		slope = (p.To - p.From) / s
	}
	return vegeta.LinearPacer{StartAt: rate(p.From), Slope: slope}
}

// PlannedAt returns when the request with sequence number seq was planned
// to leave, as an offset from the start of the attack. It mirrors vegeta's
// pacers: ConstantPacer sends hit n at (n+1)·interval; LinearPacer sends
// hit 0 at once and hit n≥1 when its integral a·t²/2 + b·t reaches n+1.
func (p Pace) PlannedAt(seq uint64) time.Duration {
	if p.Burst > 1 {
		b := uint64(p.Burst)
		last := seq/b*b + b - 1
		if h := p.Hits(); last >= h && h > 0 {
			last = h - 1
		}
		p.Burst = 0
		return p.PlannedAt(last)
	}
	if !p.Ramp {
		r := rate(p.From)
		interval := r.Per.Nanoseconds() / int64(r.Freq)
		return time.Duration(int64(seq+1) * interval)
	}
	if seq == 0 {
		return 0
	}
	p.Burst = 0
	lp := p.Pacer().(vegeta.LinearPacer)
	a := lp.Slope
	b := float64(lp.StartAt.Freq) / lp.StartAt.Per.Seconds()
	n := float64(seq + 1)
	var t float64
	if a == 0 {
		t = n / b
	} else {
		disc := b*b + 2*a*n
		if disc < 0 { // a falling ramp never plans this many hits
			return p.Duration
		}
		t = (-b + math.Sqrt(disc)) / a
	}
	return time.Duration(t * 1e9)
}

// Hits is the number of requests the pace plans: those whose planned
// send time falls within Duration. Run sends exactly this many, however
// late (a lagging attacker shows as slip, never as missing requests).
func (p Pace) Hits() uint64 {
	if !p.Ramp {
		r := rate(p.From)
		interval := r.Per.Nanoseconds() / int64(r.Freq)
		if interval <= 0 {
			return 0
		}
		return uint64(p.Duration.Nanoseconds() / interval)
	}
	p.Burst = 0
	lp := p.Pacer().(vegeta.LinearPacer)
	b := float64(lp.StartAt.Freq) / lp.StartAt.Per.Seconds()
	x := p.Duration.Seconds()
	h := lp.Slope*x*x/2 + b*x
	if h < 1 {
		return 1 // hit 0 leaves at once
	}
	return uint64(math.Floor(h + 1e-9))
}

// String is the compact form stored in result labels: "constant:1000" or
// "linear:100:2000" (req/s), plus the duration.
func (p Pace) String() string {
	f := func(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
	burst := ""
	if p.Burst > 1 {
		burst = ":b" + strconv.Itoa(p.Burst)
	}
	if !p.Ramp {
		return "constant:" + f(p.From) + ":" + p.Duration.String() + burst
	}
	return "linear:" + f(p.From) + ":" + f(p.To) + ":" + p.Duration.String() + burst
}

// burstPacer sends each burst at once, at the planned time of its last
// request.
type burstPacer struct{ p Pace }

func (bp burstPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	wait := bp.p.PlannedAt(hits) - elapsed
	if wait < 0 {
		wait = 0
	}
	return wait, false
}

func (bp burstPacer) Rate(elapsed time.Duration) float64 {
	q := bp.p
	q.Burst = 0
	return q.Pacer().Rate(elapsed)
}

// parsePace reads String's output.
func parsePace(s string) (Pace, error) {
	parts := strings.Split(s, ":")
	burst := 0
	if n := len(parts); n > 0 && strings.HasPrefix(parts[n-1], "b") {
		b, err := strconv.Atoi(parts[n-1][1:])
		if err != nil || b < 2 {
			return Pace{}, fmt.Errorf("pace %q: bad burst", s)
		}
		burst, parts = b, parts[:n-1]
	}
	p, err := parsePlain(s, parts)
	p.Burst = burst
	return p, err
}

func parsePlain(s string, parts []string) (Pace, error) {
	bad := fmt.Errorf("pace %q: want constant:R:D or linear:A:B:D", s)
	num := func(x string) (float64, bool) {
		v, err := strconv.ParseFloat(x, 64)
		return v, err == nil && v > 0
	}
	switch {
	case len(parts) == 3 && parts[0] == "constant":
		r, ok := num(parts[1])
		d, err := time.ParseDuration(parts[2])
		if !ok || err != nil {
			return Pace{}, bad
		}
		return Constant(r, d), nil
	case len(parts) == 4 && parts[0] == "linear":
		a, ok1 := num(parts[1])
		b, ok2 := num(parts[2])
		d, err := time.ParseDuration(parts[3])
		if !ok1 || !ok2 || err != nil {
			return Pace{}, bad
		}
		return Linear(a, b, d), nil
	}
	return Pace{}, bad
}

// recordingPacer wraps a pacer, records the attack's start (vegeta passes
// the time elapsed since its own start to Pace, so the first call gives the
// exact origin of the schedule) and ends the attack after the planned
// number of hits. vegeta's own duration check would drop the last planned
// hits whenever the pacer runs late at the end.
type recordingPacer struct {
	vegeta.Pacer
	max   uint64 // stop after this many hits
	began chan time.Time
	set   bool
}

func newRecordingPacer(p Pace) *recordingPacer {
	return &recordingPacer{Pacer: p.Pacer(), max: p.Hits(), began: make(chan time.Time, 1)}
}

// Pace is only called from vegeta's single pacing goroutine.
func (r *recordingPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if !r.set {
		r.set = true
		r.began <- time.Now().Add(-elapsed)
	}
	if hits >= r.max {
		return 0, true
	}
	return r.Pacer.Pace(elapsed, hits)
}
