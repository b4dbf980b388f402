// Package loadgen is authconform's load harness: vegeta attacks on the auth
// paths of a target (API keys, JWT verification, login, refresh, rate
// limiting, provisioning races) and a paho MQTT connect storm, with
// latency percentiles from an HDR histogram, schedule slip against the
// pacer's plan, threshold gates, baselines, and results files that merge
// across shards into one report.
//
// Results files hold no response bodies (they may carry tokens or keys);
// request credentials are never recorded (vegeta results do not hold
// request headers).
package loadgen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/tsenart/vegeta/v12/lib/plot"

	"github.com/authconform/authconform/spec"
)

// Defaults of an attack.
const (
	DefaultConnections = 64
	DefaultWorkers     = 10
	DefaultTimeout     = 10 * time.Second
	// MaxBody bounds what the attacker reads of one answer (bytes). The
	// rest is not read: the connection is closed instead, so an endless
	// body costs neither memory nor time. BytesIn counts what was read.
	MaxBody = 1 << 20
)

// noRedirect makes an http.Client return a 3xx as the answer: a load
// result must describe the target's answer, never a page elsewhere.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// cappedTransport bounds every response body at MaxBody bytes: reading
// past it gives io.EOF (vegeta drains what MaxBody left unread; without the
// cap it would drain an endless body until the timeout), and Close then
// drops the connection rather than draining it.
type cappedTransport struct{ next http.RoundTripper }

func (c cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &cappedBody{rc: resp.Body, left: MaxBody}
	}
	return resp, err
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// Config is one attack (one shard of it).
type Config struct {
	Scenario string
	Target   *spec.Target
	// TargetKind is "embedded" or "file", for the report.
	TargetKind string
	// Pace is the whole attack's pace; Run gives this shard Pace.Split(N).
	Pace  Pace
	Shard Shard
	// Connections caps the connections to the target (0: unlimited).
	Connections int
	Workers     uint64
	MaxWorkers  uint64 // 0: unlimited
	Timeout     time.Duration
	LateAfter   time.Duration
	// Results receives vegeta's binary results (bodies dropped). HTML
	// receives vegeta's latency plot. Progress receives a line a second.
	Results  io.Writer
	HTML     io.Writer
	Progress io.Writer
	Logger   *slog.Logger
	// StartAt, when in the future, holds the attack (after preparation)
	// until then, so the shards of a distributed attack start together.
	StartAt time.Time
	// Engine is EngineAuto (""), EngineFast or EngineVegeta: who sends
	// the requests (see fast.go). Auto takes the fast engine where the
	// scenario allows it.
	Engine string
}

// Run prepares the scenario, attacks, and returns the report. Errors
// wrapping ErrUsage are the caller's to fix (exit 2).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Shard.Count == 0 {
		cfg.Shard = Whole
	}
	if cfg.Workers == 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := spec.Get(cfg.Target.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	pace := cfg.Pace.Split(cfg.Shard.Count)
	e := &env{t: cfg.Target, p: p, shard: cfg.Shard, pace: pace, client: &http.Client{Timeout: cfg.Timeout, CheckRedirect: noRedirect}}
	defer e.cleanup()
	pl, err := prepare(ctx, cfg.Scenario, e)
	if err != nil {
		return nil, err
	}
	pl.notes = append(e.notes, pl.notes...)
	if pl.close != nil {
		defer pl.close()
	}
	if pl.burst > 1 {
		pace.Burst = pl.burst
	}
	if wait := time.Until(cfg.StartAt); wait > 0 {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "load: prepared; waiting %s for --start-at %s\n", wait.Round(time.Millisecond), cfg.StartAt.Format(time.RFC3339))
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "load: %s against %s %s (%s), %s, shard %s\n", cfg.Scenario, p.Name, cfg.Target.BaseURL, cfg.TargetKind, describePace(pace), cfg.Shard)
	}
	log.Info("load: attack", "scenario", cfg.Scenario, "pace", pace.String(), "shard", cfg.Shard.String(), "profile", string(p.Name))
	var fa *fastAttack
	switch why := fastUsable(pl); {
	case cfg.Engine == EngineVegeta:
	case why == "":
		if fa, err = newFastAttack(pl.fixed, pace, cfg.Connections, cfg.Timeout, pl.rlLimit > 0); err != nil {
			if cfg.Engine == EngineFast {
				return nil, fmt.Errorf("%w: --engine fast: %v; use --engine vegeta", ErrUsage, err)
			}
			fa = nil
		}
	case cfg.Engine == EngineFast:
		return nil, fmt.Errorf("%w: --engine fast cannot run %s: %s; use --engine vegeta or auto", ErrUsage, cfg.Scenario, why)
	}

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Connections,
		MaxConnsPerHost:     cfg.Connections,
		IdleConnTimeout:     90 * time.Second,
	}
	if cfg.Connections <= 0 {
		tr.MaxIdleConnsPerHost = 10000
	}
	var rt http.RoundTripper = cappedTransport{tr}
	if pl.transport != nil {
		rt = pl.transport(rt) // the scenario's reader sees bounded bodies too
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Client(&http.Client{Transport: rt, Timeout: cfg.Timeout, CheckRedirect: noRedirect}),
		vegeta.Workers(cfg.Workers),
		vegeta.MaxBody(MaxBody),
	}
	if cfg.MaxWorkers > 0 {
		opts = append(opts, vegeta.MaxWorkers(cfg.MaxWorkers))
	}
	atk := vegeta.NewAttacker(opts...)
	defer tr.CloseIdleConnections()

	agg := NewAggregator(cfg.LateAfter)
	var enc vegeta.Encoder
	if cfg.Results != nil {
		enc = vegeta.NewEncoder(cfg.Results)
	}
	var plt *plot.Plot
	if cfg.HTML != nil {
		plt = plot.New(plot.Title(fmt.Sprintf("authconform load %s (%s)", cfg.Scenario, p.Name)))
	}
	rp := newRecordingPacer(pace)
	label := Label{Scenario: cfg.Scenario, Pace: pace, Shard: cfg.Shard, Profile: string(p.Name), BaseURL: cfg.Target.BaseURL, RateLimit: pl.rlLimit, RateWindow: pl.rlWindow,
		Planned: pace.Hits(), StartAt: cfg.StartAt}

	stopProgress := startProgress(cfg.Progress, agg, pace.Asked())
	defer stopProgress()

	// The label is a value in here: the aggregator counts the results
	// under it (at); name, its serialization, is only the Attack field of
	// the results written out (and the plot's series).
	var encErr error
	var name string
	var at *Attack
	consume := func(r *vegeta.Result) {
		if r.Error == vegeta.ErrNoTargets.Error() {
			return // the scenario ran out of work (provisioning keys)
		}
		r.Attack = name
		r.Body = nil // may hold tokens or keys; never written out
		at.Add(r)
		if enc != nil && encErr == nil {
			encErr = enc.Encode(r)
		}
		if plt != nil {
			_ = plt.Add(r)
		}
	}
	attackDone := make(chan struct{})
	if fa != nil {
		began := time.Now()
		label.Began = began
		name, at = label.String(), agg.Attack(label)
		go func() {
			select {
			case <-ctx.Done():
				fa.Stop()
			case <-attackDone:
			}
		}()
		fa.run(name, began)
		for b := range fa.results {
			for i := range b {
				consume(&b[i])
			}
			fa.recycle(b)
		}
	} else {
		// Duration 0: the recording pacer ends the attack after pace.Hits().
		results := atk.Attack(pl.targeter, rp, 0, "authconform-"+cfg.Scenario)
		label.Began = <-rp.began
		name, at = label.String(), agg.Attack(label)
		go func() {
			select {
			case <-ctx.Done():
				atk.Stop()
			case <-attackDone:
			}
		}()
		for r := range results {
			consume(r)
		}
	}
	close(attackDone)
	stopProgress()
	if encErr != nil {
		return nil, fmt.Errorf("writing results: %v", encErr)
	}
	rep := agg.Report()
	rep.Target = TargetInfo{Profile: string(p.Name), BaseURL: cfg.Target.BaseURL, Kind: cfg.TargetKind}
	rep.Notes = append(rep.Notes, pl.notes...)
	if fa != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("engine: fast (authconform's open-loop HTTP/1.1 client, %d connections)", fa.conns))
	} else {
		rep.Notes = append(rep.Notes, "engine: vegeta")
	}
	if plt != nil {
		plt.Close()
		if _, err := plt.WriteTo(cfg.HTML); err != nil {
			return rep, fmt.Errorf("writing the HTML plot: %v", err)
		}
	}
	return rep, ctx.Err()
}

// startProgress prints elapsed, rate, p99 and errors once a second to w.
func startProgress(w io.Writer, agg *Aggregator, asked float64) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last uint64
		lastT := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				s := agg.Snapshot()
				r := float64(s.Requests-last) / now.Sub(lastT).Seconds()
				last, lastT = s.Requests, now
				fmt.Fprintf(w, "load: %4.0fs  rate %8.1f/s (asked %.1f)  p99 %-10s errors %d\n",
					now.Sub(start).Seconds(), r, asked, round(s.P99), s.Failed)
			}
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(done)
			<-finished
		}
	}
}

func describePace(p Pace) string {
	if p.Ramp {
		return fmt.Sprintf("ramp %.6g→%.6g req/s over %s", p.From, p.To, p.Duration)
	}
	return fmt.Sprintf("%.6g req/s for %s", p.From, p.Duration)
}
