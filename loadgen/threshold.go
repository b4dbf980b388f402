package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// Threshold is one gate: METRIC OP VALUE, e.g. p99<5ms, success>=0.999,
// rate>=0.99*asked.
type Threshold struct {
	Expr   string
	Metric string // p50 p90 p95 p99 p999 max mean | success rate throughput | errors
	Op     string // < <= for latencies; >= > for the others
	Dur    time.Duration
	Value  float64
	Asked  bool // Value multiplies the asked rate
}

// ThresholdResult is a threshold evaluated against a report.
type ThresholdResult struct {
	Expr string `json:"expr"`
	Got  string `json:"got"`
	Pass bool   `json:"pass"`
}

var latencyMetrics = map[string]bool{"p50": true, "p90": true, "p95": true, "p99": true, "p999": true, "max": true, "mean": true}
var ratioMetrics = map[string]bool{"success": true, "rate": true, "throughput": true}

// DefaultErrorsThreshold is the gate every run gets unless it gives its
// own errors threshold: more than 1 % of requests without any answer (a
// target that died mid-attack) fails the run.
const DefaultErrorsThreshold = "errors<=0.01"

// HasErrorsThreshold reports whether ts sets the errors gate.
func HasErrorsThreshold(ts []Threshold) bool {
	for _, t := range ts {
		if t.Metric == "errors" {
			return true
		}
	}
	return false
}

// ParseThreshold reads one --threshold expression. The error says what is
// wrong and shows a valid form.
func ParseThreshold(expr string) (Threshold, error) {
	s := strings.ReplaceAll(expr, " ", "")
	i := strings.IndexAny(s, "<>=")
	if i <= 0 {
		return Threshold{}, fmt.Errorf("%q: want METRIC OP VALUE, e.g. p99<5ms or success>=0.999", expr)
	}
	t := Threshold{Expr: s, Metric: strings.ToLower(s[:i])}
	rest := s[i:]
	for _, op := range []string{"<=", ">=", "<", ">"} {
		if strings.HasPrefix(rest, op) {
			t.Op, rest = op, rest[len(op):]
			break
		}
	}
	if t.Op == "" || rest == "" || strings.ContainsAny(rest, "<>=") {
		return Threshold{}, fmt.Errorf("%q: operator must be one of <, <=, >=, > followed by a value, e.g. p99<5ms", expr)
	}
	switch {
	case latencyMetrics[t.Metric]:
		if t.Op != "<" && t.Op != "<=" {
			return Threshold{}, fmt.Errorf("%q: latency %s takes < or <=, e.g. %s<5ms", expr, t.Metric, t.Metric)
		}
		d, err := time.ParseDuration(rest)
		if err != nil || d <= 0 {
			return Threshold{}, fmt.Errorf("%q: %q is not a positive duration such as 5ms", expr, rest)
		}
		t.Dur = d
	case t.Metric == "errors":
		if t.Op != "<" && t.Op != "<=" {
			return Threshold{}, fmt.Errorf("%q: errors (the ratio of requests without any answer) takes < or <=, e.g. errors<=0.01", expr)
		}
		v, err := strconv.ParseFloat(rest, 64)
		if err != nil || math.IsNaN(v) || v < 0 || v > 1 {
			return Threshold{}, fmt.Errorf("%q: errors is a ratio 0..1, e.g. errors<=0.01", expr)
		}
		t.Value = v
	case ratioMetrics[t.Metric]:
		if t.Op != ">=" && t.Op != ">" {
			return Threshold{}, fmt.Errorf("%q: %s takes >= or >, e.g. %s>=0.999", expr, t.Metric, t.Metric)
		}
		num := rest
		if t.Metric != "success" {
			if v, ok := strings.CutSuffix(rest, "*asked"); ok {
				num, t.Asked = v, true
			} else if rest == "asked" {
				num, t.Asked = "1", true
			}
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Threshold{}, fmt.Errorf("%q: %q is not a number (rate takes 950 or 0.99*asked)", expr, rest)
		}
		if t.Metric == "success" && v > 1 {
			return Threshold{}, fmt.Errorf("%q: success is a ratio 0..1, e.g. success>=0.999", expr)
		}
		t.Value = v
	default:
		return Threshold{}, fmt.Errorf("%q: unknown metric %q; use p50 p90 p95 p99 p999 max mean success rate throughput errors", expr, t.Metric)
	}
	return t, nil
}

func latencyOf(rep *Report, metric string) time.Duration {
	l := rep.Latencies
	switch metric {
	case "p50":
		return l.P50
	case "p90":
		return l.P90
	case "p95":
		return l.P95
	case "p99":
		return l.P99
	case "p999":
		return l.P999
	case "max":
		return l.Max
	case "mean":
		return l.Mean
	}
	return 0
}

// Eval checks the threshold against rep.
func (t Threshold) Eval(rep *Report) ThresholdResult {
	res := ThresholdResult{Expr: t.Expr}
	if t.Dur > 0 {
		got := latencyOf(rep, t.Metric)
		res.Got = got.String()
		res.Pass = got < t.Dur || (t.Op == "<=" && got == t.Dur)
		if rep.Requests == 0 {
			res.Pass, res.Got = false, "no requests"
		}
		return res
	}
	if t.Metric == "errors" {
		got := rep.TransportErrorRatio
		res.Got = fmt.Sprintf("%.4g (%d of %d requests without an answer), want %s %.4g", got, rep.TransportErrors, rep.Requests, t.Op, t.Value)
		res.Pass = got < t.Value || (t.Op == "<=" && got <= t.Value)
		return res
	}
	var got float64
	switch t.Metric {
	case "success":
		got = rep.Success
	case "rate":
		got = rep.Rate
	case "throughput":
		got = rep.Throughput
	}
	want := t.Value
	if t.Asked {
		want *= rep.AskedRate
	}
	res.Got = fmt.Sprintf("%.4g, want %s %.4g", got, t.Op, want)
	res.Pass = got > want || (t.Op == ">=" && got >= want)
	return res
}

// Gate evaluates every threshold into rep.Thresholds and reports whether
// all passed.
func Gate(rep *Report, ts []Threshold) bool {
	ok := true
	for _, t := range ts {
		r := t.Eval(rep)
		rep.Thresholds = append(rep.Thresholds, r)
		ok = ok && r.Pass
	}
	return ok
}

// BaselineResult compares one metric with a saved report.
type BaselineResult struct {
	Metric  string `json:"metric"`
	Base    string `json:"baseline"`
	Got     string `json:"got"`
	Allowed string `json:"allowed"`
	Pass    bool   `json:"pass"`
}

// LoadBaseline reads a report written by --json.
func LoadBaseline(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", path, unwrapPath(err))
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s is not a JSON report written by --json: %v", path, err)
	}
	if rep.Requests == 0 {
		return nil, fmt.Errorf("%s has no requests; give a JSON report written by --json", path)
	}
	return &rep, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// CompareBaseline compares rep with base. tol is relative (0.1 = 10 %):
// latency percentiles (p50 p90 p99 p999) may grow by tol, throughput may
// drop by tol, and the error ratio (1 − success) may grow by tol plus 0.001
// absolute (so a clean baseline does not fail on one error).
func CompareBaseline(rep, base *Report, tol float64) bool {
	ok := true
	add := func(r BaselineResult) {
		rep.Baseline = append(rep.Baseline, r)
		ok = ok && r.Pass
	}
	for _, m := range []string{"p50", "p90", "p99", "p999"} {
		b, g := latencyOf(base, m), latencyOf(rep, m)
		if b <= 0 {
			continue
		}
		limit := time.Duration(float64(b) * (1 + tol))
		add(BaselineResult{Metric: m, Base: b.String(), Got: g.String(), Allowed: "<= " + limit.String(), Pass: g <= limit})
	}
	if base.Throughput > 0 {
		limit := base.Throughput * (1 - tol)
		add(BaselineResult{Metric: "throughput", Base: fmt.Sprintf("%.2f", base.Throughput), Got: fmt.Sprintf("%.2f", rep.Throughput),
			Allowed: fmt.Sprintf(">= %.2f", limit), Pass: rep.Throughput >= limit})
	}
	bErr, gErr := 1-base.Success, 1-rep.Success
	limit := bErr*(1+tol) + 0.001
	add(BaselineResult{Metric: "errors", Base: fmt.Sprintf("%.4f", bErr), Got: fmt.Sprintf("%.4f", gErr),
		Allowed: fmt.Sprintf("<= %.4f", limit), Pass: gErr <= limit})
	return ok
}

// ParseTolerance reads "10%" or "0.1".
func ParseTolerance(s string) (float64, error) {
	v, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a tolerance; write it as 10%% or 0.1", s)
	}
	if pct {
		f /= 100
	}
	if f > 10 {
		return 0, fmt.Errorf("%q is too large; write it as 10%% or 0.1", s)
	}
	return f, nil
}
