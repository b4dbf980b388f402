package main

import (
	"context"
	"github.com/authconform/authconform/env/gate"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/authconform/authconform/env/containers"
	"github.com/authconform/authconform/env/mqttenv"
	"github.com/authconform/authconform/suites/framework"
)

// TestRunContainers is issue 4's acceptance: the iotistica profile in the
// containers environment (reference image + Mosquitto image with our
// plugin, one Docker network) passes the MQTT and deployment checks; the
// fail-open plugin mutant makes MQTT-004 fail; nothing is left running.
func TestRunContainers(t *testing.T) {
	if testing.Short() {
		t.Skip("containers run skipped in -short mode")
	}
	ctx := context.Background()
	gate.SkipUnless(t, mqttenv.ContainersAvailable(ctx, containers.DefaultReferenceImage, containers.DefaultMosquittoImage))

	js := filepath.Join(t.TempDir(), "clean.json")
	code, out, errOut := cli(t, "run", "--profile", "iotistica", "--env", "containers", "--json", js)
	if code != 0 {
		t.Fatalf("run --env containers exited %d, want 0\n%s\n%s", code, out, errOut)
	}
	r := readRunReport(t, js)
	status := map[string]string{}
	for _, c := range r.Checks {
		status[c.ID] = c.Status
	}
	for _, id := range []string{"MQTT-001", "MQTT-002", "MQTT-003", "MQTT-004", "MQTT-007", "JWT-004", "LIC-001", "LIC-002", "LIC-003"} {
		if status[id] != framework.Passed {
			t.Errorf("%s is %q in the containers environment, want passed", id, status[id])
		}
	}
	if r.Env != "containers" {
		t.Errorf("report env %q, want containers", r.Env)
	}
	// testcontainers' own log lines (🐳 Creating container …) stay out of
	// the progress output unless --verbose.
	for _, line := range strings.Split(out+errOut, "\n") {
		if strings.Contains(line, "🐳") || strings.Contains(line, "Container started") || strings.Contains(line, "Creating container") {
			t.Errorf("testcontainers log line in the output without --verbose: %s", line)
			break
		}
	}

	js = filepath.Join(t.TempDir(), "failopen.json")
	code, out, errOut = cli(t, "run", "--profile", "iotistica", "--env", "containers", "--fault", "mqtt-fail-open", "--label-filter", "area:mqtt", "--json", js)
	if code != 1 {
		t.Fatalf("run --env containers --fault mqtt-fail-open exited %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, c := range readRunReport(t, js).Checks {
		if c.ID == "MQTT-004" && c.Status != framework.Failed {
			t.Errorf("MQTT-004 is %q under mqtt-fail-open, want failed", c.Status)
		}
	}

	// A container whose run process has exited is a leftover. Other
	// packages' tests may run containers right now, so only dead owners
	// count.
	left, err := exec.Command("docker", "ps", "-a", "--filter", "label="+containers.LabelRun,
		"--format", `{{.ID}} {{.Label "`+containers.LabelPID+`"}}`).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(left)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		if pid, err := strconv.Atoi(f[1]); err == nil && syscall.Kill(pid, 0) != nil {
			t.Errorf("container %s left behind by exited run (pid %d)", f[0], pid)
		}
	}
}
