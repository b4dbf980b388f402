package loadgen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/authconform/authconform/loadgen"
	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
)

const k8sDir = "../ci/k8s"

// manifest is one decoded document of a ci/k8s file.
type manifest struct {
	file string
	kind string
	obj  any
}

// decodeManifests strict-decodes every document of every ci/k8s/*.yaml
// into its k8s.io/api type: an unknown or misspelt field, a wrong type or
// an unknown kind fails. vars are substituted first, like envsubst.
func decodeManifests(t *testing.T, vars map[string]string) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", k8sDir, err)
	}
	var out []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for k, v := range vars {
			s = strings.ReplaceAll(s, "${"+k+"}", v)
		}
		dec := yaml.NewDecoder(strings.NewReader(s))
		for {
			var node yaml.Node
			if err := dec.Decode(&node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			doc, err := yaml.Marshal(&node)
			if err != nil {
				t.Fatal(err)
			}
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
			}
			if err := sigsyaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if head.Kind == "" {
				continue // an empty document (comments only)
			}
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "batch/v1 Job":
				obj = &batchv1.Job{}
			case "v1 Secret":
				obj = &corev1.Secret{}
			case "v1 PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			default:
				t.Fatalf("%s: %s %s: no k8s.io/api type known to this test; add it", f, head.APIVersion, head.Kind)
			}
			if err := sigsyaml.UnmarshalStrict(doc, obj); err != nil {
				t.Fatalf("%s: %s does not decode strictly into k8s.io/api: %v", filepath.Base(f), head.Kind, err)
			}
			out = append(out, manifest{file: filepath.Base(f), kind: head.Kind, obj: obj})
		}
	}
	return out
}

// jobs returns the attack Job (Indexed) and the merge Job, checking that
// they live in separate files.
func jobs(t *testing.T, ms []manifest) (attack, merge *batchv1.Job, secrets []*corev1.Secret) {
	t.Helper()
	files := map[*batchv1.Job]string{}
	for _, m := range ms {
		switch o := m.obj.(type) {
		case *batchv1.Job:
			if o.Spec.CompletionMode != nil && *o.Spec.CompletionMode == batchv1.IndexedCompletion {
				if attack != nil {
					t.Fatalf("two Indexed Jobs")
				}
				attack = o
			} else {
				if merge != nil {
					t.Fatalf("two merge Jobs")
				}
				merge = o
			}
			files[o] = m.file
		case *corev1.Secret:
			secrets = append(secrets, o)
		}
	}
	if attack == nil || merge == nil {
		t.Fatalf("want an Indexed attack Job and a merge Job, got %v and %v", attack != nil, merge != nil)
	}
	if files[attack] == files[merge] {
		t.Errorf("the attack Job and the merge Job must be in separate files (both in %s): the merge is applied after the attack completes", files[attack])
	}
	return attack, merge, secrets
}

// The manifests decode strictly and agree with each other, with the CLI
// and with `make image`.
func TestK8sManifestsDecode(t *testing.T) {
	attack, merge, secrets := jobs(t, decodeManifests(t, map[string]string{"START_AT": "2026-01-01T00:00:00Z"}))
	s := attack.Spec
	if s.Completions == nil || s.Parallelism == nil || *s.Completions != *s.Parallelism {
		t.Fatalf("completions and parallelism must be set and equal (one attack)")
	}
	n := int(*s.Completions)
	c := attack.Spec.Template.Spec.Containers[0]
	if env := envOf(c); env["SHARDS"] != strconv.Itoa(n) {
		t.Errorf("SHARDS %q, want %d (= completions)", env["SHARDS"], n)
	}
	for _, want := range []string{"--shard=$(JOB_COMPLETION_INDEX)/$(SHARDS)", "--results=/results/shard-$(JOB_COMPLETION_INDEX).bin", "--start-at=$(START_AT)"} {
		if !contains(c.Args, want) {
			t.Errorf("attack args lack %s: %v", want, c.Args)
		}
	}
	m := merge.Spec.Template.Spec.Containers[0]
	if len(m.Args) == 0 || m.Args[0] != "report" {
		t.Fatalf("the merge Job must run report: %v", m.Args)
	}
	for i := 0; i < n; i++ {
		if !contains(m.Args, fmt.Sprintf("/results/shard-%d.bin", i)) {
			t.Errorf("the merge Job misses shard %d", i)
		}
	}
	// The image both Jobs name is the one `make image` builds, FROM
	// scratch with the entrypoint /authconform (args are the CLI's).
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	img := regexp.MustCompile(`(?m)^IMAGE \?= (\S+)$`).FindSubmatch(mk)
	if img == nil {
		t.Fatal("Makefile has no IMAGE ?= (make image)")
	}
	for _, j := range []*batchv1.Job{attack, merge} {
		if got := j.Spec.Template.Spec.Containers[0].Image; got != string(img[1]) {
			t.Errorf("job %s uses image %s; make image builds %s", j.Name, got, img[1])
		}
	}
	df, err := os.ReadFile("../ci/images/authconform/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^FROM scratch$`).Match(df) || !regexp.MustCompile(`(?m)^ENTRYPOINT \["/authconform"\]$`).Match(df) {
		t.Errorf("ci/images/authconform/Dockerfile must be FROM scratch with ENTRYPOINT [\"/authconform\"]")
	}
	if !bytes.Contains(mk, []byte("ci/images/authconform/Dockerfile")) {
		t.Errorf("make image does not build ci/images/authconform/Dockerfile")
	}
	// The target file the pods read comes from the Secret.
	if !secretHolds(secrets, attack, c, "--target=") {
		t.Errorf("the attack's --target is not a key of a mounted Secret")
	}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// secretHolds reports whether the path of the flag (--target=PATH) is a
// key of a Secret mounted at its directory.
func secretHolds(secrets []*corev1.Secret, j *batchv1.Job, c corev1.Container, flag string) bool {
	var path string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, flag); ok {
			path = v
		}
	}
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(path) != vm.MountPath {
			continue
		}
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.Secret == nil {
				continue
			}
			for _, s := range secrets {
				if s.Name == v.Secret.SecretName {
					_, ok := s.StringData[filepath.Base(path)]
					return ok
				}
			}
		}
	}
	return false
}

// expand is Kubernetes' $(VAR) expansion of container args: a defined
// variable is replaced, $$ is a literal $, an undefined $(VAR) stays as
// written.
func expand(s string, env map[string]string) string {
	re := regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		if v, ok := env[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// mounted maps the container paths of c's volume mounts to local
// directories: the pods' files land where the test reads them.
func mounted(args []string, c corev1.Container, dirs map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for _, vm := range c.VolumeMounts {
			a = strings.ReplaceAll(a, vm.MountPath+"/", dirs[vm.Name]+"/")
		}
		out[i] = a
	}
	return out
}

// buildCLI builds the authconform binary (what `make image` puts in the
// image) into dir.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "authconform")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/authconform")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/authconform: %v\n%s", err, out)
	}
	return bin
}

// The attack Job's container args, expanded for each completion index as
// Kubernetes would, run as N local processes of the built binary against
// a local reference; the merge Job's args then merge their results. Only
// what cannot run on a small shared machine is changed, and said so:
// --rate and --duration are scaled down, and the merge's latency and rate
// gates (timing on a noisy machine) are dropped; the success gate, the
// default errors gate, the shard and start-at logic run as shipped.
func TestK8sJobsRunLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the CLI and runs N processes")
	}
	startAt := time.Now().Add(8 * time.Second).UTC().Truncate(time.Second).Format(time.RFC3339)
	attack, merge, _ := jobs(t, decodeManifests(t, map[string]string{"START_AT": startAt}))
	dir := t.TempDir()
	bin := buildCLI(t, dir)

	run, err := reference.Start(context.Background(), reference.Config{Profile: spec.Roboticks}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	dirs := map[string]string{}
	pod := attack.Spec.Template.Spec
	for _, v := range pod.Volumes {
		dirs[v.Name] = filepath.Join(dir, v.Name)
		if err := os.MkdirAll(dirs[v.Name], 0o700); err != nil {
			t.Fatal(err)
		}
		if v.Secret != nil {
			// the Secret's target.yaml, pointing at the local reference
			if err := run.Target.WriteFile(filepath.Join(dirs[v.Name], "target.yaml")); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := pod.Containers[0]
	n := int(*attack.Spec.Completions)
	scaled := map[string]string{"--rate": "--rate=150", "--duration": "--duration=2s"}
	var wg sync.WaitGroup
	errs := make([]string, n)
	for i := 0; i < n; i++ {
		env := envOf(c)
		env["JOB_COMPLETION_INDEX"] = strconv.Itoa(i) // set by the Job controller
		var args []string
		for _, a := range c.Args {
			if r, ok := scaled[strings.SplitN(a, "=", 2)[0]]; ok {
				a = r
			}
			args = append(args, expand(a, env))
		}
		args = mounted(args, c, dirs)
		wg.Add(1)
		go func(i int, args []string) {
			defer wg.Done()
			cmd := exec.Command(bin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Sprintf("pod %d (%s): %v\n%s", i, strings.Join(args, " "), err, out.String())
			}
		}(i, args)
	}
	wg.Wait()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}

	mc := merge.Spec.Template.Spec.Containers[0]
	mdirs := map[string]string{}
	for _, v := range merge.Spec.Template.Spec.Volumes {
		// the merge mounts the same claim as the attack
		for _, av := range pod.Volumes {
			if av.PersistentVolumeClaim != nil && v.PersistentVolumeClaim != nil && av.PersistentVolumeClaim.ClaimName == v.PersistentVolumeClaim.ClaimName {
				mdirs[v.Name] = dirs[av.Name]
			}
		}
		if mdirs[v.Name] == "" {
			t.Fatalf("the merge Job's volume %s is not the attack's results claim", v.Name)
		}
	}
	var margs []string
	for _, a := range mc.Args {
		if strings.HasPrefix(a, "--threshold=p") || strings.HasPrefix(a, "--threshold=rate") {
			continue // timing gates: not on a shared machine
		}
		margs = append(margs, a)
	}
	margs = mounted(margs, mc, mdirs)
	out, err := exec.Command(bin, margs...).CombinedOutput()
	if err != nil {
		t.Fatalf("merge (%s): %v\n%s", strings.Join(margs, " "), err, out)
	}
	var rep loadgen.Report
	b, err := os.ReadFile(filepath.Join(mdirs[mc.VolumeMounts[0].Name], "merged.json"))
	if err != nil {
		t.Fatalf("the merge wrote no merged.json: %v\n%s", err, out)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Shard != fmt.Sprintf("merged %d", n) || len(rep.Shards) != n || rep.AskedRate != 150 || rep.Requests != 300 || rep.Success != 1 {
		t.Errorf("merged report: shard %q shards %v asked %v requests %d success %v; want merged %d, asked 150, 300 requests, success 1",
			rep.Shard, rep.Shards, rep.AskedRate, rep.Requests, rep.Success, n)
	}
	if rep.CutShort {
		t.Errorf("merged attack cut short")
	}
}
