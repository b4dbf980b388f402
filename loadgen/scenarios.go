package loadgen

import (
	"context"
	"fmt"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/authconform/authconform/spec"
)

// Scenario is one load scenario as a value: its help line, its defaults,
// what a profile needs to serve it, how it prepares what it sends, what
// counts as success and how its results are analysed. Each lives in its
// own file (scenario_*.go, and mqtt.go), its success rule and analysis
// next to what it sends; registry lists them in help order. Code outside
// the scenario files reads these fields, never a scenario's name.
type Scenario struct {
	Name string
	// Help is the one line `authconform load --help` prints.
	Help string
	// Needs is the capability the embedded reference's profile must have
	// (the default profile is the first built-in one that has it).
	Needs    spec.Capability
	Defaults Defaults
	// Expect is the report's "expect" text.
	Expect string
	// Success says whether a result is what the scenario asks for, and
	// if not what it wanted (for the error text).
	Success func(r *vegeta.Result) (ok bool, want string)
	// Prepare builds what the attack sends (logins, probes, minted
	// credentials first).
	Prepare func(ctx context.Context, e *env) (*plan, error)
	// Analyze starts the scenario's own analysis of its results, beyond
	// the report every scenario gets (ratelimit's precision,
	// provision-race's single use), for the attack labelled l (the first
	// shard seen: shards of one attack share what it reads). nil, the
	// default of every other scenario: the shared report alone.
	Analyze func(l Label) analysis
}

// analysis is a scenario's own reading of its results (Scenario.Analyze).
type analysis interface {
	// add reads one result; attack tells the attacks (shards) apart:
	// the same number for every result of one attack.
	add(attack int, r *vegeta.Result)
	// into writes the analysis into the report.
	into(rep *Report)
}

// analysis starts the scenario's analysis for the attack labelled l; nil
// where it has none.
func (s *Scenario) analysis(l Label) analysis {
	if s == nil || s.Analyze == nil {
		return nil
	}
	return s.Analyze(l)
}

// success applies the scenario's success rule to r (success2xx for a nil
// scenario: results of no known scenario); the text says what was wrong.
func (s *Scenario) success(r *vegeta.Result) (bool, string) {
	rule := success2xx
	if s != nil {
		rule = s.Success
	}
	ok, want := rule(r)
	if ok {
		return true, ""
	}
	if r.Error != "" {
		return false, r.Error
	}
	return false, fmt.Sprintf("%d (want %s)", r.Code, want)
}

// expect is the report's "expect" text for results of s (a nil scenario:
// labelled results of a scenario this version does not know).
func (s *Scenario) expect() string {
	if s == nil {
		return "success = 2xx"
	}
	return s.Expect
}

// Defaults are a scenario's rate and duration when the flags give none.
type Defaults struct {
	// Rate in requests per second for the target (nil: DefaultRate).
	Rate func(t *spec.Target) float64
	// Duration of the attack (nil: DefaultDuration).
	Duration func(t *spec.Target) time.Duration
}

// DefaultRate and DefaultDuration apply where a scenario sets none.
const (
	DefaultRate     = 500
	DefaultDuration = 5 * time.Second
)

// registry is every scenario in help order.
var registry = []*Scenario{keyValid, keyInvalid, keyMixed, jwtVerify, loginScenario, refreshScenario, rateLimitScenario, provisionRace, mqttConnectScenario}

// Scenarios lists every scenario `authconform load` knows, in help order.
var Scenarios = func() []string {
	out := make([]string, len(registry))
	for i, s := range registry {
		out[i] = s.Name
	}
	return out
}()

// Lookup returns the named scenario.
func Lookup(name string) (*Scenario, bool) {
	for _, s := range registry {
		if s.Name == name {
			return s, true
		}
	}
	return nil, false
}

// All returns every scenario in help order.
func All() []*Scenario { return append([]*Scenario(nil), registry...) }

// KnownScenario reports whether name is a scenario.
func KnownScenario(name string) bool {
	_, ok := Lookup(name)
	return ok
}

// Rate is the scenario's default rate against t.
func (s *Scenario) Rate(t *spec.Target) float64 {
	if s.Defaults.Rate != nil {
		return s.Defaults.Rate(t)
	}
	return DefaultRate
}

// Duration is the scenario's default duration against t.
func (s *Scenario) Duration(t *spec.Target) time.Duration {
	if s.Defaults.Duration != nil {
		return s.Defaults.Duration(t)
	}
	return DefaultDuration
}

// Usage is the scenario list of `authconform load --help`.
func Usage() string {
	var b strings.Builder
	for _, s := range registry {
		fmt.Fprintf(&b, "  %-15s %s\n", s.Name, s.Help)
	}
	return b.String()
}

// success2xx is the rule of every scenario whose requests should pass.
func success2xx(r *vegeta.Result) (bool, string) { return r.Code >= 200 && r.Code < 300, "2xx" }

func prepare(ctx context.Context, scenario string, e *env) (*plan, error) {
	s, ok := Lookup(scenario)
	if !ok {
		return nil, fmt.Errorf("%w: unknown scenario %q; use one of %s", ErrUsage, scenario, strings.Join(Scenarios, ", "))
	}
	return s.Prepare(ctx, e)
}
