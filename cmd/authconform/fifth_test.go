package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/reference"
	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// fifth is a fictional dialect that exists only as a profile document:
// keys ac_live_… in X-Acme-Key, a login answering {"jwt": …}, its own
// error bodies. No Go code outside this test names it.
const fifth = "../../testdata/profiles/acmecloud.yaml"

// TestFifthProfileReference: 'reference --profile-file' serves the
// document: its keys in its header on its base path, its 401 body.
func TestFifthProfileReference(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "t.yaml")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runReferenceCtx(ctx, []string{"--profile-file", fifth, "--addr", "127.0.0.1:0", "--target-out", tf}, &out, &errb)
	}()
	var tg *spec.Target
	for i := 0; i < 500 && tg == nil; i++ {
		tg, _ = spec.LoadTarget(tf)
		time.Sleep(10 * time.Millisecond)
	}
	if tg == nil {
		cancel()
		<-done
		t.Fatalf("no target file; stderr %s", errb.String())
	}
	if tg.Profile != "acmecloud" || !strings.HasPrefix(tg.Principals.Admin.APIKey, "ac_live_") {
		t.Fatalf("target: profile %s, admin key prefix %q", tg.Profile, tg.Principals.Admin.APIKey[:8])
	}
	get := func(h, v string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, tg.BaseURL+"/acme/v2/workspaces", nil)
		if h != "" {
			req.Header.Set(h, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
		return res.StatusCode, string(b)
	}
	if code, _ := get("X-Acme-Key", tg.Principals.Admin.APIKey); code != 200 {
		t.Errorf("the admin's key in X-Acme-Key: %d, want 200", code)
	}
	if code, body := get("", ""); code != 401 || !strings.Contains(body, `"code":"auth_required"`) {
		t.Errorf("no credential: %d %s, want 401 with the document's body", code, body)
	}
	if code, _ := get("X-API-Key", tg.Principals.Admin.APIKey); code != 401 {
		t.Errorf("the key in another profile's header: %d, want 401", code)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("reference exit %d", code)
	}
}

// TestFifthProfileRun: 'run --profile-file' checks the document against
// the reference serving it: every applicable check runs and passes, by
// the document's header and login field.
func TestFifthProfileRun(t *testing.T) {
	js := filepath.Join(t.TempDir(), "r.json")
	code, out, errOut := cli(t, "run", "--profile-file", fifth, "--json", js)
	if code != 0 {
		t.Fatalf("run --profile-file exited %d\n%s\n%s", code, out, errOut)
	}
	r := readRunReport(t, js)
	if r.Verdict != framework.Conformant || len(r.Profiles) != 1 || r.Profiles[0] != "acmecloud" {
		t.Fatalf("verdict %s profiles %v", r.Verdict, r.Profiles)
	}
	passed := 0
	for _, c := range r.Checks {
		switch c.Status {
		case framework.Passed:
			passed++
		case framework.Skipped:
			if c.SkipKind != framework.NotSelected {
				t.Errorf("%s skipped (%s): %s", c.ID, c.SkipKind, c.Reason)
			}
		default:
			t.Errorf("%s %s: %s", c.ID, c.Status, c.Reason)
		}
	}
	raw, _ := os.ReadFile(js)
	for _, want := range []string{"X-Acme-Key: ac_live_", `\"jwt\":`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the transcripts never show %q: the document's dialect was not used", want)
		}
	}
	if passed < 20 {
		t.Errorf("only %d checks passed", passed)
	}
}

// TestFifthProfileMutants: the mutant matrix on the document. Every MUST
// fault observable in the built-in profile of the same resource family
// whose check applies to the document makes that check fail.
func TestFifthProfileMutants(t *testing.T) {
	if testing.Short() {
		t.Skip("mutant matrix skipped in -short mode")
	}
	p, err := spec.ParseProfile(mustRead(t, fifth))
	if err != nil {
		t.Fatal(err)
	}
	family := spec.Rigbox // the built-in profile serving resources.model workspaces
	if spec.MustGet(family).Resources.Model != p.Resources.Model {
		t.Fatalf("rigbox is no longer the %s family", p.Resources.Model)
	}
	n := 0
	for _, f := range reference.Faults() {
		c, _ := spec.Lookup(f.Check)
		if f.Inconclusive || !slices.Contains(f.Profiles, family) || !c.AppliesIn(p) || c.LevelIn(p) != spec.MUST || c.NeedsAny(spec.NeedMQTT) {
			continue
		}
		n++
		f, c := f, c
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			js := filepath.Join(t.TempDir(), "r.json")
			// --strict: where the document's body is ref-defined the
			// defect shows in the check's SHOULD part (as in TestMutants).
			code, out, errOut := cli(t, "run", "--profile-file", fifth, "--strict", "--fault", f.Name, "--label-filter", "area:"+c.Area+" && !needs:timing", "--json", js)
			if code != 1 {
				t.Fatalf("exit %d, want 1 (%s must fail)\n%s\n%s", code, f.Check, out, errOut)
			}
			for _, cr := range readRunReport(t, js).Checks {
				if cr.ID == f.Check && cr.Status != framework.Failed && len(cr.ShouldFailures) == 0 {
					t.Errorf("%s is %s under %s, want failed", cr.ID, cr.Status, f.Name)
				}
				if cr.ID != f.Check && cr.Status == framework.Failed && !slices.Contains(f.AlsoBreaks, cr.ID) {
					t.Errorf("%s failed under %s, which the fault cannot explain", cr.ID, f.Name)
				}
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d faults apply to the fifth profile", n)
	}
}

// TestFifthProfileLoad: 'load key-valid' drives the document's header.
func TestFifthProfileLoad(t *testing.T) {
	code, out, errOut := runCLI("load", "key-valid", "--profile-file", fifth, "--rate", "100", "--duration", "1s", "--quiet")
	if code != 0 || !regexp.MustCompile(`200:\d+`).MatchString(out+errOut) {
		t.Fatalf("load key-valid on the fifth profile: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestNoProfileNamesInCode: outside spec/ (the built-in names), fixtures/
// (their seed data) and tests, no Go code names a profile: behaviour
// follows the profile document's fields and capabilities.
func TestNoProfileNamesInCode(t *testing.T) {
	names := regexp.MustCompile(`spec\.(Roboticks|Rigbox|RequestRocket|Iotistica)\b|"(roboticks|rigbox|requestrocket|iotistica|acmecloud)"`)
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", path)
		if d.IsDir() && (rel == "spec" || rel == "fixtures" || rel == "testdata" || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		for i, line := range strings.Split(string(mustRead(t, path)), "\n") {
			if code, _, _ := strings.Cut(line, "//"); names.MatchString(code) {
				t.Errorf("%s:%d names a profile: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
