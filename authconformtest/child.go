package authconformtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/authconform/authconform/spec"
	_ "github.com/authconform/authconform/suites/all" // every area's specs
	"github.com/authconform/authconform/suites/framework"
)

// init runs the suite when this process is a child started by check, and
// exits before testing.M runs: the child's one RunSpecs is the only one
// in its process.
func init() {
	if os.Getenv(envChild) == "" || os.Getenv(envChildOut) == "" {
		return
	}
	res := childRun()
	b, err := json.Marshal(res)
	if err == nil {
		err = os.WriteFile(os.Getenv(envChildOut), b, 0o600)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "authconformtest child: write the result: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// childRun runs the suite against the parent's target file.
func childRun() (res childResult) {
	defer func() {
		if p := recover(); p != nil {
			res = childResult{Error: fmt.Sprintf("authconformtest: the suite panicked (please report it): %v", p)}
		}
	}()
	var o childOptions
	if err := json.Unmarshal([]byte(os.Getenv(envChildOptions)), &o); err != nil {
		return childResult{Error: "authconformtest child: " + envChildOptions + ": " + err.Error()}
	}
	t, err := spec.LoadTarget(os.Getenv(envChildTarget))
	if err != nil {
		return childResult{Error: "authconformtest child: " + err.Error()}
	}
	p, err := spec.Get(t.Profile)
	if err != nil {
		return childResult{Error: "authconformtest child: profile: " + err.Error()}
	}
	var e framework.Env = &framework.StaticEnv{T: t, EnvName: "authconformtest"}
	if u := os.Getenv(envChildControl); u != "" {
		e = &deployEnv{StaticEnv: framework.StaticEnv{T: t, EnvName: "authconformtest"}, url: u, token: os.Getenv(envChildToken),
			client: framework.NewHTTPClient(http.DefaultTransport, 2*time.Minute)}
	}
	c := &framework.Ctx{Profile: p, Env: e}
	ctx := context.Background()
	if ps := c.Preflight(ctx); len(ps) > 0 {
		for _, pr := range ps {
			res.Preflight = append(res.Preflight, pr.String())
		}
		return res
	}
	ctxs := []*framework.Ctx{c}
	secrets := t.Secrets()
	rep := &framework.RunReport{Suite: "authconform", Version: version(), Env: e.Name(), Profiles: []string{string(p.Name)},
		Targets: map[string]string{string(p.Name): t.BaseURL}, LabelFilter: o.LabelFilter, Strict: o.Strict, RequireAll: o.RequireAll, Start: time.Now().UTC()}
	gr, agg := framework.Run(failRecorder{}, ctxs, framework.RunOptions{LabelFilter: o.LabelFilter, Secrets: secrets, Timeout: o.Timeout})
	rep.End = time.Now().UTC()
	checks := agg.Collect(gr, ctxs)
	framework.SortChecks(checks)
	interrupted := ""
	if agg.Interrupted {
		interrupted = agg.Ended
	}
	rep.Interrupted = interrupted
	rep.Checks = checks
	rep.Summary = framework.Summarize(checks, rep.Profiles, o.Strict, interrupted)
	rep.Verdict = framework.RunVerdict(rep.Summary)
	rep.Gate = framework.RunGate(rep.Summary)
	res.Report = rep
	return res
}

// failRecorder satisfies Ginkgo's GinkgoTestingT: the verdict comes from
// the aggregation (SPEC.md §4), not from Ginkgo's pass/fail.
type failRecorder struct{}

func (failRecorder) Fail() {}

// version is the suite module's version in this binary's build info.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/authconform/authconform" {
				if m.Replace != nil {
					return m.Version + " (replaced by " + m.Replace.Path + ")"
				}
				return m.Version
			}
		}
		if bi.Main.Path == "github.com/authconform/authconform" {
			return bi.Main.Version
		}
	}
	return "(devel)"
}

// deployEnv is the child's environment when the parent has a Deploy
// hook: the static target plus deployments through the parent's control
// endpoint.
type deployEnv struct {
	framework.StaticEnv
	url, token string
	client     *http.Client
}

func (d *deployEnv) CanDeploy() bool { return true }

// Deploy asks the parent to build and serve a fresh instance with vars.
func (d *deployEnv) Deploy(ctx context.Context, vars map[string]string) (*spec.Target, func(), error) {
	var resp deployResponse
	if err := d.post(ctx, "/deploy", deployRequest{Vars: vars}, &resp); err != nil {
		return nil, nil, err
	}
	t, err := spec.ParseTarget(resp.Target)
	if err != nil {
		return nil, nil, fmt.Errorf("authconformtest: deployed target: %w", err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.post(ctx, "/stop", stopRequest{ID: resp.ID}, nil)
	}
	return t, stop, nil
}

func (d *deployEnv) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	r, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("authconformtest: control endpoint: %w", err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("authconformtest: control endpoint: %w", err)
	}
	if r.StatusCode/100 != 2 {
		return errors.New(strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}
