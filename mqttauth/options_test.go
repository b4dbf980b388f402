package mqttauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParsePluginOptions(t *testing.T) {
	srv, s := recordingServer(t, 200)
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	opts, level, err := ParsePluginOptions(map[string]string{
		"http_host": host, "http_port": port, "http_getuser_uri": "/auth/user",
		"http_superuser_uri": "", "http_aclcheck_uri": "/auth/acl", "http_timeout": "3",
		"http_params_mode": "form", "http_response_mode": "status", "backends": "http",
		"log_level": "debug", "fail_open": "false", "http_method": "post",
	})
	if err != nil {
		t.Fatal(err)
	}
	if level != slog.LevelDebug {
		t.Errorf("level %v", level)
	}
	c := mustNew(t, opts...)
	if c.FailOpen() {
		t.Error("fail_open false gave a fail-open client")
	}
	if d, _ := c.CheckUser(context.Background(), "u", "p", "c"); d != Allow || s.path != "/auth/user" || s.ctype != "application/x-www-form-urlencoded" {
		t.Errorf("got %v %s %s", d, s.path, s.ctype)
	}
	if d, _ := c.CheckSuperuser(context.Background(), "u"); d != Deny {
		t.Error("empty superuser uri must disable the check")
	}
	// Duration timeout and URL form, fail_open.
	opts, _, err = ParsePluginOptions(map[string]string{"http_url": srv.URL, "http_timeout": "250ms", "fail_open": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if c := mustNew(t, opts...); !c.FailOpen() || c.StickyRefusals() {
		t.Error("fail_open true ignored, or sticky refusals without the option")
	}
	opts, _, err = ParsePluginOptions(map[string]string{"http_url": srv.URL, "sticky_refusals": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if c := mustNew(t, opts...); !c.StickyRefusals() {
		t.Error("sticky_refusals true ignored")
	}
	if _, _, err := ParsePluginOptions(map[string]string{"http_url": srv.URL, "sticky_refusals": "maybe"}); err == nil || !strings.Contains(err.Error(), "plugin_opt_sticky_refusals") {
		t.Errorf("bad sticky_refusals: %v", err)
	}
}

func TestParsePluginOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		opts map[string]string
		name string
	}{
		{map[string]string{}, "http_host"},
		{map[string]string{"http_hots": "x"}, "http_hots"},
		{map[string]string{"http_host": "h", "http_port": "http"}, "http_port"},
		{map[string]string{"http_host": "h", "http_url": "http://h"}, "http_url"},
		{map[string]string{"http_host": "h", "http_timeout": "soon"}, "http_timeout"},
		{map[string]string{"http_host": "h", "http_timeout": "0"}, "http_timeout"},
		{map[string]string{"http_host": "h", "http_params_mode": "xml"}, "http_params_mode"},
		{map[string]string{"http_host": "h", "http_response_mode": "json"}, "http_response_mode"},
		{map[string]string{"http_host": "h", "http_method": "GET"}, "http_method"},
		{map[string]string{"http_host": "h", "http_getuser_uri": "user"}, "http_getuser_uri"},
		{map[string]string{"http_host": "h", "fail_open": "maybe"}, "fail_open"},
		{map[string]string{"http_host": "h", "log_level": "loud"}, "log_level"},
		{map[string]string{"http_host": "h", "backends": "files"}, "backends"},
		{map[string]string{"http_host": "h", "http_max_idle_conns": "-1"}, "http_max_idle_conns"},
	} {
		_, _, err := ParsePluginOptions(tc.opts)
		if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), "plugin_opt_"+tc.name+":") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want a one-line error naming plugin_opt_%s", tc.opts, err, tc.name)
		}
	}
}

var _ = time.Second
var _ = http.StatusOK
