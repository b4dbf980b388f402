package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// DefaultLateAfter is how far behind its planned send time a request may
// leave before it counts as late.
const DefaultLateAfter = time.Millisecond

// Latencies is vegeta's latency block (nanoseconds) plus p999. Percentiles
// come from an HDR histogram (3 significant digits), not from a t-digest.
type Latencies struct {
	Total time.Duration `json:"total"`
	Mean  time.Duration `json:"mean"`
	P50   time.Duration `json:"50th"`
	P90   time.Duration `json:"90th"`
	P95   time.Duration `json:"95th"`
	P99   time.Duration `json:"99th"`
	P999  time.Duration `json:"999th"`
	Max   time.Duration `json:"max"`
	Min   time.Duration `json:"min"`
}

// Slip is how late requests left compared with the pacer's plan.
type Slip struct {
	// Min near zero shows the plan's origin is right.
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P99  time.Duration `json:"99th"`
	Max  time.Duration `json:"max"`
}

// TargetLost says when the target stopped answering.
type TargetLost struct {
	// LastAnswer is the send time of the last request that got an answer,
	// from the first request; -1 when no request got one.
	LastAnswer time.Duration `json:"last_answer"`
	// FailedAfter counts the requests sent after it, all failed.
	FailedAfter uint64 `json:"failed_after"`
	// Error is one of their errors.
	Error string `json:"error"`
}

// lostMin is how many requests after the last answer must have failed
// for the report to say the target was lost (one timeout at the very end
// is not a dead target).
const lostMin = 3

// lostBucket is the time resolution of TargetLost.
const lostBucket = 10 * time.Millisecond

// TargetInfo names the target without any credential.
type TargetInfo struct {
	Profile string `json:"profile,omitempty"`
	BaseURL string `json:"baseURL,omitempty"`
	Kind    string `json:"kind,omitempty"` // embedded | file
}

// Report is vegeta's JSON report shape plus authconform's fields. Every
// duration is in nanoseconds, as in vegeta.
type Report struct {
	Latencies   Latencies          `json:"latencies"`
	BytesIn     vegeta.ByteMetrics `json:"bytes_in"`
	BytesOut    vegeta.ByteMetrics `json:"bytes_out"`
	Earliest    time.Time          `json:"earliest"`
	Latest      time.Time          `json:"latest"`
	End         time.Time          `json:"end"`
	Duration    time.Duration      `json:"duration"`
	Wait        time.Duration      `json:"wait"`
	Requests    uint64             `json:"requests"`
	Rate        float64            `json:"rate"`
	Throughput  float64            `json:"throughput"`
	Success     float64            `json:"success"`
	StatusCodes map[string]int     `json:"status_codes"`
	Errors      []string           `json:"errors"`

	// P999 repeats latencies.999th at the top level for threshold tools.
	P999 time.Duration `json:"p999"`
	// AskedRate is the planned mean rate summed over shards (req/s).
	AskedRate float64 `json:"asked_rate"`
	// Slip is send time minus planned send time; Late counts requests
	// that left more than LateAfter behind plan (they could not be sent
	// on time: the attacker, not the server, was the bottleneck or the
	// server held every connection).
	Slip      Slip          `json:"slip"`
	Late      uint64        `json:"late"`
	LateAfter time.Duration `json:"late_after"`
	// FromPlan is the latency measured from the planned send time
	// (latency + slip): the number a user would have seen, free of
	// coordinated omission.
	FromPlan Latencies `json:"latencies_from_plan"`

	Scenario string     `json:"scenario"`
	Target   TargetInfo `json:"target"`
	// Shard is "i/N" for one shard's report, "merged N" for a merge.
	Shard  string   `json:"shard"`
	Shards []string `json:"shards,omitempty"`
	// Expect says what counts as success for this scenario.
	Expect string   `json:"expect,omitempty"`
	Notes  []string `json:"notes,omitempty"`

	// Planned is how many requests the attack planned (summed over the
	// shards; 0 when a results file does not say); Sent how many results
	// there are. CutShort: fewer were sent than planned (the attack was
	// interrupted or stopped); CutShards names the shards concerned.
	Planned   uint64   `json:"planned"`
	Sent      uint64   `json:"sent"`
	CutShort  bool     `json:"cut_short"`
	CutShards []string `json:"cut_shards,omitempty"`
	// TransportErrors counts requests that got no HTTP answer at all
	// (connection refused or reset, timeout, no CONNACK);
	// TransportErrorRatio is their share of the requests, what the
	// `errors` threshold gates (default errors<=0.01).
	TransportErrors     uint64  `json:"transport_errors"`
	TransportErrorRatio float64 `json:"transport_error_ratio"`
	// TargetLost is set when the target stopped answering before the
	// attack ended: every request after its last answer failed.
	TargetLost *TargetLost `json:"target_lost,omitempty"`

	RateLimit *RateLimitReport `json:"ratelimit,omitempty"`
	Provision *ProvisionReport `json:"provision,omitempty"`

	Thresholds []ThresholdResult `json:"thresholds,omitempty"`
	Baseline   []BaselineResult  `json:"baseline,omitempty"`
}

func newHist() *hdr.Histogram { return hdr.New(1, int64(time.Hour), 3) }

func record(h *hdr.Histogram, d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if v > int64(time.Hour) {
		v = int64(time.Hour)
	}
	_ = h.RecordValue(v)
}

func latencies(h *hdr.Histogram, total time.Duration, n uint64) Latencies {
	if n == 0 {
		return Latencies{}
	}
	q := func(p float64) time.Duration { return time.Duration(h.ValueAtQuantile(p)) }
	return Latencies{
		Total: total, Mean: time.Duration(float64(total) / float64(n)),
		P50: q(50), P90: q(90), P95: q(95), P99: q(99), P999: q(99.9),
		Max: time.Duration(h.Max()), Min: time.Duration(h.Min()),
	}
}

// group is the results of one attack (one shard): one label.
type group struct {
	id     int // order of appearance: tells the attacks apart for analyses
	label  Label
	ok     bool      // labelled by authconform load
	scen   *Scenario // the label's scenario; nil: unknown or not labelled
	an     analysis  // the scenario's analysis, shared by its groups; nil: none
	seen   uint64
	maxSeq uint64
}

// Aggregator sums results into a Report. It is safe for concurrent use
// (the live progress line reads it while results stream in).
type Aggregator struct {
	mu        sync.Mutex
	lat, slip *hdr.Histogram
	fromPlan  *hdr.Histogram
	latTotal  time.Duration
	slipTotal time.Duration
	fpTotal   time.Duration
	slipN     uint64
	late      uint64
	lateAfter time.Duration

	requests, success uint64
	bytesIn, bytesOut uint64
	codes             map[uint16]int
	errs              map[string]struct{}
	errList           []string
	earliest, latest  time.Time
	end               time.Time

	// groups are the attacks of results read back (Add), by their Attack
	// field; all is every group in order of appearance, those of
	// in-process attacks (Attack) too.
	groups map[string]*group
	all    []*group
	// the group of the last result read back, and its Attack field
	lastGroup *group
	lastName  string
	// transport errors: count, per lostBucket of send time, and the
	// latest send time that got an answer
	transportErrs uint64
	errBuckets    map[int64]uint64
	lastErr       string
	lastAnswer    time.Time
	// analyses are the scenarios' own (Scenario.Analyze), one per
	// scenario, in order of appearance
	analyses map[*Scenario]analysis
	anOrder  []analysis
	// scenario is the first label's scenario name; scen the scenario
	scenario string
	scen     *Scenario
}

// NewAggregator returns an empty aggregator; lateAfter <= 0 means
// DefaultLateAfter.
func NewAggregator(lateAfter time.Duration) *Aggregator {
	if lateAfter <= 0 {
		lateAfter = DefaultLateAfter
	}
	return &Aggregator{
		lat: newHist(), slip: newHist(), fromPlan: newHist(), lateAfter: lateAfter,
		codes: map[uint16]int{}, errs: map[string]struct{}{}, errList: []string{},
		groups: map[string]*group{}, errBuckets: map[int64]uint64{}, analyses: map[*Scenario]analysis{},
	}
}

// newGroup registers the attack labelled l (ok false: not labelled).
func (a *Aggregator) newGroup(l Label, ok bool) *group {
	g := &group{id: len(a.all), label: l, ok: ok}
	a.all = append(a.all, g)
	if !ok {
		return g
	}
	g.scen, _ = Lookup(l.Scenario)
	if a.scenario == "" {
		a.scenario, a.scen = l.Scenario, g.scen
	}
	if g.scen != nil {
		an, started := a.analyses[g.scen]
		if !started {
			an = g.scen.analysis(l)
			a.analyses[g.scen] = an
			if an != nil {
				a.anOrder = append(a.anOrder, an)
			}
		}
		g.an = an
	}
	return g
}

// Attack is one in-process attack's way into an Aggregator: its results
// count under its label, a value. Their Attack field (the label as
// results files carry it) is not read.
type Attack struct {
	a     *Aggregator
	label Label
	g     *group // registered with the first result
}

// Attack returns the way in of the in-process attack labelled l: add its
// results through it.
func (a *Aggregator) Attack(l Label) *Attack {
	// Slip is read on the wall clock, as from a results file (which holds
	// no monotonic reading), so that load and report agree.
	l.Began = l.Began.Round(0)
	return &Attack{a: a, label: l}
}

// Add records one result of the attack.
func (at *Attack) Add(r *vegeta.Result) {
	at.a.mu.Lock()
	defer at.a.mu.Unlock()
	if at.g == nil {
		at.g = at.a.newGroup(at.label, true)
	}
	at.a.add(at.g, r)
}

// Add records one result read back from a results file: its Attack field
// is the label of its attack (ParseLabel), or any other text for results
// not written by authconform load.
func (a *Aggregator) Add(r *vegeta.Result) {
	a.mu.Lock()
	defer a.mu.Unlock()
	// Results come in runs of one label: skip hashing it every time.
	g := a.lastGroup
	if g == nil || r.Attack != a.lastName {
		g = a.groups[r.Attack]
		a.lastName = r.Attack
	}
	if g == nil {
		g = a.newGroup(ParseLabel(r.Attack))
		a.groups[r.Attack] = g
	}
	a.lastGroup = g
	a.add(g, r)
}

func (a *Aggregator) add(g *group, r *vegeta.Result) {
	g.seen++
	if r.Seq > g.maxSeq {
		g.maxSeq = r.Seq
	}
	a.requests++
	a.codes[r.Code]++
	a.bytesIn += r.BytesIn
	a.bytesOut += r.BytesOut
	record(a.lat, r.Latency)
	a.latTotal += r.Latency
	if a.earliest.IsZero() || r.Timestamp.Before(a.earliest) {
		a.earliest = r.Timestamp
	}
	if r.Timestamp.After(a.latest) {
		a.latest = r.Timestamp
	}
	if e := r.End(); e.After(a.end) {
		a.end = e
	}
	if r.Code == 0 && r.Error != "" {
		a.transportErrs++
		a.errBuckets[r.Timestamp.UnixNano()/int64(lostBucket)]++
		a.lastErr = r.Error
	} else if r.Code != 0 && r.Timestamp.After(a.lastAnswer) {
		a.lastAnswer = r.Timestamp
	}
	if g.ok {
		planned := g.label.Began.Add(g.label.Pace.PlannedAt(r.Seq))
		s := r.Timestamp.Sub(planned)
		if s < 0 {
			s = 0 // within clock-reading noise of the plan
		}
		record(a.slip, s)
		a.slipTotal += s
		a.slipN++
		if s > a.lateAfter {
			a.late++
		}
		record(a.fromPlan, s+r.Latency)
		a.fpTotal += s + r.Latency
	}
	ok, errText := g.scen.success(r)
	if ok {
		a.success++
	} else if errText != "" {
		if _, seen := a.errs[errText]; !seen && len(a.errList) < 100 {
			a.errs[errText] = struct{}{}
			a.errList = append(a.errList, errText)
		}
	}
	if g.an != nil {
		g.an.add(g.id, r)
	}
}

// Expected says whether a result is what the named scenario asks for, and
// if not the error text to report (each scenario's Success; 2xx for an
// unknown one).
func Expected(scenario string, r *vegeta.Result) (bool, string) {
	s, _ := Lookup(scenario)
	return s.success(r)
}

// Snapshot is a cheap view for the live progress line.
type Snapshot struct {
	Requests, Failed uint64
	P99              time.Duration
}

// Snapshot reads the running totals.
func (a *Aggregator) Snapshot() Snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Snapshot{Requests: a.requests, Failed: a.requests - a.success, P99: time.Duration(a.lat.ValueAtQuantile(99))}
}

// Report computes the summary. It may be called more than once.
func (a *Aggregator) Report() *Report {
	a.mu.Lock()
	defer a.mu.Unlock()
	rep := &Report{
		StatusCodes: map[string]int{}, Errors: append([]string{}, a.errList...),
		Requests: a.requests, LateAfter: a.lateAfter, Late: a.late, Scenario: a.scenario,
		Earliest: a.earliest, Latest: a.latest, End: a.end,
	}
	for k, v := range a.codes {
		rep.StatusCodes[strconv.Itoa(int(k))] = v
	}
	rep.BytesIn.Total, rep.BytesOut.Total = a.bytesIn, a.bytesOut
	if a.requests > 0 {
		rep.Latencies = latencies(a.lat, a.latTotal, a.requests)
		rep.P999 = rep.Latencies.P999
		rep.Duration = a.latest.Sub(a.earliest)
		rep.Wait = a.end.Sub(a.latest)
		rep.Rate = float64(a.requests)
		rep.Throughput = float64(a.success)
		if s := rep.Duration.Seconds(); s > 0 {
			rep.Rate /= s
			rep.Throughput /= (rep.Duration + rep.Wait).Seconds()
		}
		rep.Success = float64(a.success) / float64(a.requests)
		rep.BytesIn.Mean = float64(a.bytesIn) / float64(a.requests)
		rep.BytesOut.Mean = float64(a.bytesOut) / float64(a.requests)
	}
	if a.slipN > 0 {
		rep.Slip = Slip{
			Min:  time.Duration(a.slip.Min()),
			Mean: time.Duration(float64(a.slipTotal) / float64(a.slipN)),
			P99:  time.Duration(a.slip.ValueAtQuantile(99)),
			Max:  time.Duration(a.slip.Max()),
		}
		rep.FromPlan = latencies(a.fromPlan, a.fpTotal, a.slipN)
	}
	rep.Sent = a.requests
	rep.TransportErrors = a.transportErrs
	if a.requests > 0 {
		rep.TransportErrorRatio = float64(a.transportErrs) / float64(a.requests)
	}
	if a.transportErrs > 0 {
		var after uint64
		last := a.lastAnswer.UnixNano() / int64(lostBucket)
		for b, n := range a.errBuckets {
			if a.lastAnswer.IsZero() || b > last {
				after += n
			}
		}
		if after >= lostMin || (a.lastAnswer.IsZero() && after > 0) {
			tl := &TargetLost{LastAnswer: -1, FailedAfter: after, Error: a.lastErr}
			if !a.lastAnswer.IsZero() {
				tl.LastAnswer = a.lastAnswer.Sub(a.earliest)
			}
			rep.TargetLost = tl
		}
	}
	var shards []string
	var profile, base string
	plannedKnown := true
	for _, g := range a.all {
		if !g.ok {
			plannedKnown = false
			continue
		}
		rep.AskedRate += g.label.Pace.Asked()
		if g.label.Planned == 0 {
			plannedKnown = false
		}
		rep.Planned += g.label.Planned
		if g.label.Planned > 0 && g.seen < g.label.Planned {
			rep.CutShort = true
			rep.CutShards = append(rep.CutShards, fmt.Sprintf("%s: sent %d of %d", g.label.Shard, g.seen, g.label.Planned))
		}
		shards = append(shards, g.label.Shard.String())
		profile = g.label.Profile
		base = g.label.BaseURL
	}
	if !plannedKnown {
		rep.Planned = 0
	}
	sort.Strings(shards)
	sort.Strings(rep.CutShards)
	rep.Target.Profile, rep.Target.BaseURL = profile, base
	switch {
	case len(shards) == 1:
		rep.Shard = shards[0]
	case len(shards) > 1:
		rep.Shard = fmt.Sprintf("merged %d", len(shards))
		rep.Shards = shards
	}
	for _, an := range a.anOrder {
		an.into(rep)
	}
	if a.scenario != "" {
		rep.Expect = a.scen.expect()
	}
	return rep
}

// AddFile reads a vegeta results file (binary gob, JSON or CSV) into a.
func (a *Aggregator) AddFile(name string, r io.Reader) error {
	dec := vegeta.DecoderFor(r)
	if dec == nil {
		return fmt.Errorf("%w: %s: not a vegeta results file (binary, JSON or CSV)", ErrResults, name)
	}
	n := 0
	for {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if err == io.EOF {
				break
			}
			return fmt.Errorf("%w: %s: result %d: %v", ErrResults, name, n+1, err)
		}
		a.Add(&res)
		n++
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func round(d time.Duration) time.Duration {
	switch {
	case d > time.Second:
		return d.Round(time.Millisecond)
	case d > time.Millisecond:
		return d.Round(time.Microsecond)
	}
	return d
}

// WriteText writes a human report in vegeta's text layout plus our lines.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	l := rep.Latencies
	fmt.Fprintf(&b, "Scenario      %s   target %s %s   shard %s\n", rep.Scenario, rep.Target.Profile, rep.Target.BaseURL, rep.Shard)
	fmt.Fprintf(&b, "Requests      [total, rate, throughput]         %d, %.2f, %.2f\n", rep.Requests, rep.Rate, rep.Throughput)
	fmt.Fprintf(&b, "Asked rate    [mean req/s]                      %.2f\n", rep.AskedRate)
	fmt.Fprintf(&b, "Duration      [total, attack, wait]             %s, %s, %s\n", round(rep.Duration+rep.Wait), round(rep.Duration), round(rep.Wait))
	fmt.Fprintf(&b, "Latencies     [min, mean, 50, 90, 95, 99, 99.9, max]  %s, %s, %s, %s, %s, %s, %s, %s\n",
		round(l.Min), round(l.Mean), round(l.P50), round(l.P90), round(l.P95), round(l.P99), round(l.P999), round(l.Max))
	fp := rep.FromPlan
	fmt.Fprintf(&b, "From plan     [50, 99, 99.9, max]               %s, %s, %s, %s\n", round(fp.P50), round(fp.P99), round(fp.P999), round(fp.Max))
	fmt.Fprintf(&b, "Slip          [min, mean, 99, max]  late(>%s)  %s, %s, %s, %s  %d\n", rep.LateAfter, round(rep.Slip.Min), round(rep.Slip.Mean), round(rep.Slip.P99), round(rep.Slip.Max), rep.Late)
	fmt.Fprintf(&b, "Bytes In      [total, mean]                     %d, %.2f\n", rep.BytesIn.Total, rep.BytesIn.Mean)
	fmt.Fprintf(&b, "Bytes Out     [total, mean]                     %d, %.2f\n", rep.BytesOut.Total, rep.BytesOut.Mean)
	fmt.Fprintf(&b, "Success       [ratio]                           %.2f%%  (%s)\n", rep.Success*100, rep.Expect)
	codes := make([]string, 0, len(rep.StatusCodes))
	for c := range rep.StatusCodes {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprint(&b, "Status Codes  [code:count]                      ")
	for i, c := range codes {
		if i > 0 {
			b.WriteString("  ")
		}
		fmt.Fprintf(&b, "%s:%d", c, rep.StatusCodes[c])
	}
	b.WriteString("\n")
	if rep.Planned > 0 {
		fmt.Fprintf(&b, "Sent          [sent, planned]                   %d, %d\n", rep.Sent, rep.Planned)
	}
	if rep.CutShort {
		fmt.Fprintf(&b, "CUT SHORT     the attack was interrupted: %s\n", strings.Join(rep.CutShards, "; "))
	}
	if rep.TransportErrors > 0 {
		fmt.Fprintf(&b, "Transport errors [count, ratio]                 %d, %.4f  (requests without any answer)\n", rep.TransportErrors, rep.TransportErrorRatio)
	}
	if tl := rep.TargetLost; tl != nil {
		if tl.LastAnswer < 0 {
			fmt.Fprintf(&b, "TARGET LOST   the target never answered: all %d requests failed (%s)\n", tl.FailedAfter, tl.Error)
		} else {
			fmt.Fprintf(&b, "TARGET LOST   no answer after +%s: the %d requests sent after it failed (%s)\n", round(tl.LastAnswer), tl.FailedAfter, tl.Error)
		}
	}
	if rl := rep.RateLimit; rl != nil {
		fmt.Fprintf(&b, "Rate limit    limit %d per %s; windows %d (full %d); overAdmitted: %d  underAdmitted: %d  headerErrors: %d\n",
			rl.Limit, rl.Window, len(rl.Windows), rl.FullWindows, rl.OverAdmitted, rl.UnderAdmitted, rl.HeaderErrors)
		for _, e := range rl.HeaderProblems {
			fmt.Fprintf(&b, "              header: %s\n", e)
		}
	}
	if pr := rep.Provision; pr != nil {
		fmt.Fprintf(&b, "Provisioning  keys %d; redeemed once %d; redeemed more than once %d; never redeemed %d\n",
			pr.Keys, pr.RedeemedOnce, pr.MultiRedeemed, pr.NeverRedeemed)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "Note          %s\n", n)
	}
	b.WriteString("Error Set:\n")
	for _, e := range rep.Errors {
		b.WriteString(e + "\n")
	}
	for _, t := range rep.Thresholds {
		fmt.Fprintf(&b, "Threshold     %-24s %s (got %s)\n", t.Expr, passFail(t.Pass), t.Got)
	}
	for _, t := range rep.Baseline {
		fmt.Fprintf(&b, "Baseline      %-10s %s (baseline %s, now %s, allowed %s)\n", t.Metric, passFail(t.Pass), t.Base, t.Got, t.Allowed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func passFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "BREACHED"
}

// fragment returns the URL fragment of a result ("" if none).
func fragment(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Fragment
}
