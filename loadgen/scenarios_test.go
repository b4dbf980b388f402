package loadgen

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The in-process report (the label a value, Aggregator.Attack) is the
// report of the results file it wrote (the label parsed back from every
// result): slip, expectations and the scenario's analysis agree.
func TestInProcessReportIsTheFileReport(t *testing.T) {
	_, tg := newFake(t)
	for _, sc := range []string{"key-mixed", "ratelimit"} {
		t.Run(sc, func(t *testing.T) {
			var res bytes.Buffer
			live := run(t, Config{Scenario: sc, Target: tg, Pace: Constant(200, 2*time.Second), Results: &res, Connections: 64, Workers: 64})
			a := NewAggregator(0)
			if err := a.AddFile("res", &res); err != nil {
				t.Fatal(err)
			}
			file := a.Report()
			// only the run knows its notes and where its target came from
			live.Notes, live.Target.Kind = nil, ""
			if sc == "ratelimit" && live.RateLimit == nil {
				t.Fatal("no ratelimit section in process")
			}
			lj, _ := json.Marshal(live)
			fj, _ := json.Marshal(file)
			if !bytes.Equal(lj, fj) {
				t.Errorf("in process:\n%s\nfrom the results file:\n%s", lj, fj)
			}
		})
	}
}

// provision-race's analysis tells the shards' keys apart (their indexes
// restart in every shard), whether the results come in process or from
// the shards' files.
func TestProvisionAnalysisPerShard(t *testing.T) {
	began := time.Unix(1700000000, 0)
	pace := Constant(10, time.Second).Split(2)
	results := func() []*vegeta.Result {
		var out []*vegeta.Result
		for k, code := range []uint16{201, 401, 401, 201, 201, 403} {
			out = append(out, &vegeta.Result{Seq: uint64(k), Code: code, Timestamp: began.Add(time.Duration(k) * time.Millisecond),
				URL: "http://x/api/v1/provision/agent#k=" + strconv.Itoa(k/3)})
		}
		return out
	}
	want := &ProvisionReport{Keys: 4, RedeemedOnce: 2, MultiRedeemed: 2, Forbidden: 2}
	live, file := NewAggregator(0), NewAggregator(0)
	for i := 0; i < 2; i++ {
		l := Label{Scenario: "provision-race", Pace: pace, Shard: Shard{i, 2}, Began: began}
		at := live.Attack(l)
		for _, r := range results() {
			at.Add(r)
			r.Attack = l.String()
			file.Add(r)
		}
	}
	for name, a := range map[string]*Aggregator{"in process": live, "from files": file} {
		rep := a.Report()
		if !reflect.DeepEqual(rep.Provision, want) {
			t.Errorf("%s: %+v, want %+v", name, rep.Provision, want)
		}
		if rep.RateLimit != nil || rep.Expect != provisionRace.Expect || rep.Shard != "merged 2" {
			t.Errorf("%s: ratelimit %v expect %q shard %q", name, rep.RateLimit, rep.Expect, rep.Shard)
		}
	}
}

// Scenarios without an analysis of their own get the shared report only.
func TestDefaultAnalysis(t *testing.T) {
	for _, s := range All() {
		an := s.analysis(Label{Scenario: s.Name, RateLimit: 10, RateWindow: time.Second})
		if own := s == rateLimitScenario || s == provisionRace; (an != nil) != own {
			t.Errorf("%s: analysis %T", s.Name, an)
		}
	}
	var none *Scenario
	if none.analysis(Label{}) != nil || none.expect() != "success = 2xx" {
		t.Error("results of an unknown scenario get the shared report, success = 2xx")
	}
}

// Outside the scenario files (scenario_*.go, mqtt.go) and the registry
// (scenarios.go), loadgen names no scenario: behaviour follows the
// scenario value's fields.
func TestNoScenarioNamesOutsideTheScenarios(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range All() {
		names[s.Name] = true
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "scenario") || f == "mqtt.go" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if v, err := strconv.Unquote(lit.Value); err == nil && names[v] {
					t.Errorf("%s names scenario %s; give the scenario value a field instead", fset.Position(lit.Pos()), v)
				}
			}
			return true
		})
	}
}
