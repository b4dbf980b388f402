package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

// `authconform report` merges only the shards of one attack: results of
// different attacks (scenario, pace, shard count, start) and duplicate
// shards are refused with a one-line error naming the files; --baseline
// of another scenario is refused; --json - writes to stdout.
func TestReportRefusesForeignResults(t *testing.T) {
	run, err := reference.Start(context.Background(), reference.Config{Profile: spec.Roboticks}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	dir := t.TempDir()
	tf := filepath.Join(dir, "target.yaml")
	if err := run.Target.WriteFile(tf); err != nil {
		t.Fatal(err)
	}
	load := func(name string, args ...string) string {
		t.Helper()
		f := filepath.Join(dir, name)
		a := append([]string{"load", "--target", tf, "--duration", "300ms", "--quiet", "--results", f}, args...)
		if code, out, e := runCLI(a...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", a, code, out, e)
		}
		return f
	}
	s0 := load("s0.bin", "key-valid", "--rate", "100", "--shard", "0/2")
	s1late := load("s1-late.bin", "key-valid", "--rate", "100", "--shard", "1/2") // a second attack, after the first
	inv := load("inv.bin", "key-invalid", "--rate", "100", "--shard", "1/2")
	fast := load("fast.bin", "key-valid", "--rate", "200", "--shard", "1/2")
	three := load("three.bin", "key-valid", "--rate", "100", "--shard", "1/3")
	b, _ := os.ReadFile(s0)
	dup := filepath.Join(dir, "s0-copy.bin")
	_ = os.WriteFile(dup, b, 0o600)

	for _, c := range []struct {
		files []string
		want  []string
	}{
		{[]string{s0, s1late}, []string{"s0.bin", "s1-late.bin", "apart"}},
		{[]string{s0, inv}, []string{"s0.bin", "inv.bin", "scenario key-valid vs key-invalid"}},
		{[]string{s0, fast}, []string{"s0.bin", "fast.bin", "pace"}},
		{[]string{s0, three}, []string{"s0.bin", "three.bin", "2 vs 3 shards"}},
		{[]string{s0, dup}, []string{"s0.bin", "s0-copy.bin", "both hold shard 0/2"}},
		{[]string{s0, s0}, []string{"s0.bin", "given twice"}},
	} {
		code, _, stderr := runCLI(append([]string{"report"}, c.files...)...)
		if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("report %v: exit %d %q, want a one-line refusal (exit 2)", c.files, code, stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("report %v: %q does not say %q", c.files, stderr, w)
			}
		}
	}
	// one shard alone is fine, and --json - writes the report to stdout
	code, stdout, stderr := runCLI("report", "--json", "-", s0)
	if code != exitOK {
		t.Fatalf("report --json -: exit %d %s", code, stderr)
	}
	var rep loadgen.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Requests != 15 || rep.Scenario != "key-valid" {
		t.Errorf("report --json -: stdout %q (%v)", stdout, err)
	}
	if !strings.Contains(stderr, "Requests") {
		t.Errorf("report --json -: the text report must go to stderr: %q", stderr)
	}
	// a baseline of another scenario
	base := filepath.Join(dir, "inv.json")
	if code, _, e := runCLI("report", "--json", base, inv); code != exitOK {
		t.Fatalf("report inv: %d %s", code, e)
	}
	code, _, stderr = runCLI("report", "--baseline", base, s0)
	if code != exitUsage || !strings.Contains(stderr, "--baseline") || !strings.Contains(stderr, "key-invalid") {
		t.Errorf("baseline of another scenario: exit %d %q", code, stderr)
	}
}
