package authconformtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// Environment of the child process. The values are written by the parent
// only; the child never trusts anything else.
const (
	envChild        = "AUTHCONFORM_CHILD"         // random token: run the suite in init
	envChildTarget  = "AUTHCONFORM_CHILD_TARGET"  // target file the parent wrote
	envChildOut     = "AUTHCONFORM_CHILD_OUT"     // where the child writes its result
	envChildOptions = "AUTHCONFORM_CHILD_OPTIONS" // childOptions as JSON
	envChildControl = "AUTHCONFORM_CHILD_CONTROL" // base URL of the control endpoint ("" = no Deploy)
	envChildToken   = "AUTHCONFORM_CHILD_TOKEN"   // bearer token of the control endpoint
)

// childOptions is what the child needs of Options.
type childOptions struct {
	LabelFilter string        `json:"labelFilter"`
	Strict      bool          `json:"strict"`
	RequireAll  bool          `json:"requireAll"`
	Timeout     time.Duration `json:"timeout"`
}

// childResult is what the child writes: the report, or why it has none.
type childResult struct {
	Report    *framework.RunReport `json:"report,omitempty"`
	Preflight []string             `json:"preflight,omitempty"`
	Error     string               `json:"error,omitempty"`
}

// maxChildOutput is how much of the child's output is kept for errors.
const maxChildOutput = 64 << 10

// check runs the suite in a child process against tg (fixtures fix, a
// copy) with the label filter and returns the report or the preflight
// problems.
func check(tg Target, fix *spec.Target, o Options, filter string, dl time.Time) (*framework.RunReport, []string, error) {
	if ok, err := framework.Selects(filter, []spec.ProfileName{fix.Profile}); err != nil {
		return nil, nil, fmt.Errorf("authconformtest: Options.LabelFilter %q: %v", filter, err)
	} else if !ok {
		return nil, nil, fmt.Errorf("authconformtest: Options.LabelFilter %q selects no check of %s", filter, fix.Profile)
	}
	var servers servers
	defer servers.closeAll()
	switch {
	case tg.Handler != nil:
		u, err := servers.serve(tg.Handler)
		if err != nil {
			return nil, nil, err
		}
		fix.BaseURL = u
	case tg.URL != "":
		fix.BaseURL = strings.TrimSuffix(tg.URL, "/")
	}
	if fix.BaseURL == "" {
		return nil, nil, errors.New("authconformtest: Target: no server; set Handler, URL, or baseURL in the fixtures")
	}
	if err := fix.Validate(); err != nil {
		return nil, nil, fmt.Errorf("authconformtest: Target.Fixtures: %w", err)
	}
	dir, err := os.MkdirTemp("", "authconformtest-")
	if err != nil {
		return nil, nil, fmt.Errorf("authconformtest: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	targetPath, outPath := filepath.Join(dir, "target.yaml"), filepath.Join(dir, "result.json")
	if err := fix.WriteFile(targetPath); err != nil {
		return nil, nil, fmt.Errorf("authconformtest: write the target file: %w", err)
	}
	timeout := runTimeout(o, dl)
	co, _ := json.Marshal(childOptions{LabelFilter: filter, Strict: o.Strict, RequireAll: o.RequireAll, Timeout: timeout})
	env := []string{envChild + "=" + randomToken(), envChildTarget + "=" + targetPath, envChildOut + "=" + outPath, envChildOptions + "=" + string(co)}
	if tg.Deploy != nil {
		token := randomToken()
		u, err := servers.serve(&control{deploy: tg.Deploy, fixtures: fix, token: token, servers: &servers})
		if err != nil {
			return nil, nil, err
		}
		env = append(env, envChildControl+"="+u, envChildToken+"="+token)
	}

	// The child's own timeout ends the suite; this one (a minute later)
	// only catches a child that hangs anyway.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	cmd := exec.CommandContext(ctx, self, "-test.run=^$", "-test.count=1")
	cmd.Env = append(childEnviron(), env...)
	out := &tail{max: maxChildOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	b, err := os.ReadFile(outPath)
	if err != nil {
		if ctx.Err() != nil {
			runErr = fmt.Errorf("killed after %s: %w", timeout+time.Minute, runErr)
		}
		return nil, nil, fmt.Errorf("authconformtest: the suite's child process (%s) left no result (%v); is authconformtest linked into this test binary? its output ends:\n%s",
			self, runErr, spec.Mask(out.String(), fix.Secrets()))
	}
	var res childResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, nil, fmt.Errorf("authconformtest: the child's result: %w", err)
	}
	switch {
	case res.Error != "":
		return nil, nil, errors.New(res.Error)
	case len(res.Preflight) > 0:
		return nil, res.Preflight, nil
	case res.Report == nil:
		return nil, nil, errors.New("authconformtest: the child's result has no report")
	}
	return res.Report, nil, nil
}

// childEnviron is the parent's environment without child variables.
func childEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envChild) {
			out = append(out, kv)
		}
	}
	return out
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// servers are the listeners of one run: the handler, the control
// endpoint and deployments.
type servers struct {
	mu   sync.Mutex
	all  map[string]*http.Server
	next int
}

// serve serves h on a new listener on 127.0.0.1 and returns its base URL.
func (s *servers) serve(h http.Handler) (string, error) {
	_, u, err := s.serveID(h)
	return u, err
}

func (s *servers) serveID(h http.Handler) (id, baseURL string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", fmt.Errorf("authconformtest: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = srv.Serve(ln) }()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.all == nil {
		s.all = map[string]*http.Server{}
	}
	s.next++
	id = fmt.Sprint(s.next)
	s.all[id] = srv
	return id, "http://" + ln.Addr().String(), nil
}

// stop closes one server; false when there is none with that id.
func (s *servers) stop(id string) bool {
	s.mu.Lock()
	srv := s.all[id]
	delete(s.all, id)
	s.mu.Unlock()
	if srv == nil {
		return false
	}
	shutdown(srv)
	return true
}

func (s *servers) closeAll() {
	s.mu.Lock()
	all := s.all
	s.all = nil
	s.mu.Unlock()
	for _, srv := range all {
		shutdown(srv)
	}
}

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if srv.Shutdown(ctx) != nil {
		_ = srv.Close()
	}
}

// control is the loopback endpoint through which the child deploys:
// POST /deploy {"vars": {...}} -> {"id": "...", "target": {...}};
// POST /stop {"id": "..."}. Every request carries the bearer token.
type control struct {
	deploy   func(map[string]string) (http.Handler, error)
	fixtures *spec.Target
	token    string
	servers  *servers
}

type deployRequest struct {
	Vars map[string]string `json:"vars"`
}

type deployResponse struct {
	ID     string          `json:"id"`
	Target json.RawMessage `json:"target"`
}

type stopRequest struct {
	ID string `json:"id"`
}

func (c *control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(c.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	switch r.URL.Path {
	case "/deploy":
		var req deployRequest
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		h, err := c.callDeploy(req.Vars)
		if err != nil {
			http.Error(w, "Target.Deploy: "+err.Error(), http.StatusBadGateway)
			return
		}
		id, u, err := c.servers.serveID(h)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tb, err := json.Marshal(deployedTarget(c.fixtures, u, req.Vars))
		if err != nil {
			c.servers.stop(id)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(deployResponse{ID: id, Target: tb})
	case "/stop":
		var req stopRequest
		if err := json.NewDecoder(body).Decode(&req); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !c.servers.stop(req.ID) {
			http.Error(w, "no such deployment", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

// callDeploy calls the implementer's constructor; a panic is its error.
func (c *control) callDeploy(vars map[string]string) (h http.Handler, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panicked: %v", p)
		}
	}()
	h, err = c.deploy(vars)
	if err == nil && h == nil {
		err = errors.New("returned a nil handler")
	}
	return h, err
}

// deployedTarget is the fixtures of a deployment at baseURL: the same
// principals and resources, the control fields the variables set.
func deployedTarget(fix *spec.Target, baseURL string, vars map[string]string) *spec.Target {
	t := *fix
	t.BaseURL = baseURL
	if v, ok := vars["JWT_SECRET"]; ok {
		t.Control.JWTSecret, t.Control.JWTPrivateKey, t.Control.JWTPublicKey = v, "", ""
	}
	if pub, ok := vars["JWT_PUBLIC_KEY"]; ok {
		t.Control.JWTSecret, t.Control.JWTPublicKey, t.Control.JWTPrivateKey = "", pub, vars["JWT_PRIVATE_KEY"]
	}
	if v, ok := vars["LICENSE_KEY"]; ok {
		t.Control.LicenseToken = v
	}
	return &t
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

var _ io.Writer = (*tail)(nil)
