package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The shipped Indexed Job must stay consistent with the CLI: one shard per
// completion index, N equal everywhere, and the merge reading every shard.
func TestIndexedJobManifest(t *testing.T) {
	b, err := os.ReadFile("../ci/k8s/load-indexed-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var jobs []map[string]any
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if d != nil && d["kind"] == "Job" {
			jobs = append(jobs, d)
		}
	}
	if len(jobs) != 2 {
		t.Fatalf("want the attack Job and the merge Job, got %d Jobs", len(jobs))
	}
	spec := jobs[0]["spec"].(map[string]any)
	if spec["completionMode"] != "Indexed" {
		t.Errorf("completionMode %v, want Indexed", spec["completionMode"])
	}
	n := spec["completions"].(int)
	if spec["parallelism"].(int) != n {
		t.Errorf("parallelism must equal completions (one attack)")
	}
	c := spec["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	args := fmt.Sprint(c["args"])
	for _, want := range []string{"--shard=$(JOB_COMPLETION_INDEX)/$(SHARDS)", "--results=/results/shard-$(JOB_COMPLETION_INDEX).bin", "--start-at="} {
		if !strings.Contains(args, want) {
			t.Errorf("attack args lack %s", want)
		}
	}
	env := fmt.Sprint(c["env"])
	if !strings.Contains(env, fmt.Sprintf("value:%d", n)) {
		t.Errorf("SHARDS must be %d: %s", n, env)
	}
	m := jobs[1]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	margs := fmt.Sprint(m["args"])
	if !strings.HasPrefix(margs, "[report") {
		t.Errorf("merge job must run report: %s", margs)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(margs, fmt.Sprintf("/results/shard-%d.bin", i)) {
			t.Errorf("merge job misses shard %d", i)
		}
	}
}
