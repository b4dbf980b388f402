package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
)

func TestReferenceUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		flag string
	}{
		{[]string{"--addr", "127.0.0.1:0"}, nil, "--profile"},
		{[]string{"--profile", "nope"}, nil, "--profile"},
		{[]string{"--profile", "roboticks", "--fault", "nope"}, nil, "--fault"},
		{[]string{"--profile", "roboticks", "--addr", "no-port"}, nil, "--addr"},
		{[]string{"--profile", "roboticks", "--rate-window", "10ms"}, nil, "window"},
		{[]string{"--profile", "rigbox", "--addr", "999.1.1.1:80"}, nil, "--addr"},
		{[]string{"--profile", "roboticks", "--bogus"}, nil, "bogus"},
		{[]string{"--profile", "iotistica", "--addr", "127.0.0.1:0"}, map[string]string{"JWT_SECRET": "short"}, "JWT_SECRET"},
	} {
		for k, v := range c.env {
			t.Setenv(k, v)
		}
		var out, errb bytes.Buffer
		code := runReference(c.args, &out, &errb)
		msg := errb.String()
		if code != exitUsage || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.flag) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and one line naming %s", c.args, code, msg, c.flag)
		}
		for k := range c.env {
			os.Unsetenv(k)
		}
	}
}

func TestReferenceHelpListsFaults(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runReference([]string{"--help"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"accept-alg-none", "JWT-003", "racy-rate-limiter", "LICENSE_KEY", "--target-out"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestReferenceServesAndWritesTarget(t *testing.T) {
	// Every profile: the start-up hint must never print a fixture secret.
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			dir := t.TempDir()
			tf := filepath.Join(dir, "t.json")
			ctx, cancel := context.WithCancel(context.Background())
			var out, errb bytes.Buffer
			done := make(chan int)
			go func() {
				done <- runReferenceCtx(ctx, []string{"--profile", string(p), "--addr", "127.0.0.1:0", "--target-out", tf}, &out, &errb)
			}()
			var tg *spec.Target
			for i := 0; i < 200; i++ {
				if t2, err := spec.LoadTarget(tf); err == nil {
					tg = t2
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if tg == nil {
				cancel()
				<-done
				t.Fatalf("no target file; stderr %s", errb.String())
			}
			if st, _ := os.Stat(tf); st.Mode().Perm() != 0o600 {
				t.Errorf("target file mode %v", st.Mode().Perm())
			}
			if p == spec.RequestRocket {
				req, _ := http.NewRequest(http.MethodGet, tg.BaseURL+"/api/clients", nil)
				req.Header.Set("Authorization", tg.Principals.Admin.APIKey)
				res, err := http.DefaultClient.Do(req)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("GET /api/clients: %v %v", err, res)
				}
				res.Body.Close()
			}
			cancel()
			if code := <-done; code != exitOK {
				t.Fatalf("exit %d", code)
			}
			log := errb.String()
			if !strings.Contains(log, "listening on http://") || !strings.Contains(log, "curl") {
				t.Errorf("log lacks the listening line or the hint: %s", log)
			}
			for _, s := range tg.Secrets() {
				if strings.Contains(log, s) {
					t.Fatalf("a secret (%.6s…) is printed", s)
				}
			}
		})
	}
}
