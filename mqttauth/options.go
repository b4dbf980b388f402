package mqttauth

import (
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PluginOptions is the set of plugin_opt_* names the Mosquitto plugin
// understands (without the plugin_opt_ prefix) and what each one means. The
// go-auth names are kept where go-auth has one, so a go-auth HTTP backend
// configuration carries over (auth_opt_X becomes plugin_opt_X).
var PluginOptions = map[string]string{
	"http_url":            "backend base URL, http(s)://host:port[/prefix]; replaces http_host/http_port/http_with_tls",
	"http_host":           "backend host name or IP (go-auth)",
	"http_port":           "backend port (go-auth)",
	"http_with_tls":       "true to use https (go-auth)",
	"http_getuser_uri":    "path of the user check (go-auth); default " + DefaultUserPath,
	"http_superuser_uri":  "path of the superuser check (go-auth); empty disables it; default " + DefaultSuperuserPath,
	"http_aclcheck_uri":   "path of the ACL check (go-auth); default " + DefaultACLPath,
	"http_timeout":        "per-call timeout: whole seconds (go-auth) or a duration such as 500ms; default 2s",
	"http_params_mode":    "json (default) or form (go-auth)",
	"http_response_mode":  "status only: 2xx allows, 4xx denies, 5xx refuses (go-auth)",
	"http_method":         "POST only (go-auth)",
	"http_user_agent":     "User-Agent header (go-auth)",
	"http_max_idle_conns": "keep-alive connections kept to the backend; default 16",
	"backends":            "http only (go-auth's auth_opt_backends, accepted for compatibility)",
	"log_level":           "debug, info, warn (default) or error",
	"fail_open":           "MUTANT ONLY: true allows clients when the backend fails; never set it in production",
	"sticky_refusals":     "MUTANT ONLY: true refuses a client's next CONNECT from the memory of its last refusal; never set it in production",
}

// ParsePluginOptions turns plugin_opt_* values (names without the prefix)
// into client options and the log level. Errors are one line, wrap
// ErrOption and name the option and the fix.
func ParsePluginOptions(opts map[string]string) ([]Option, slog.Level, error) {
	level := slog.LevelWarn
	bad := func(name, format string, a ...any) error {
		return fmt.Errorf("%w: plugin_opt_%s: %s", ErrOption, name, fmt.Sprintf(format, a...))
	}
	names := make([]string, 0, len(opts))
	for k := range opts {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []Option
	for _, k := range names {
		if _, ok := PluginOptions[k]; !ok {
			return nil, level, bad(k, "unknown option; known: %s", strings.Join(sortedKeys(), ", "))
		}
	}
	boolOpt := func(name string) (bool, error) {
		v, ok := opts[name]
		if !ok {
			return false, nil
		}
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "1", "yes", "on":
			return true, nil
		case "false", "0", "no", "off", "":
			return false, nil
		}
		return false, bad(name, "%q is not true or false", v)
	}
	tls, err := boolOpt("http_with_tls")
	if err != nil {
		return nil, level, err
	}
	if u, ok := opts["http_url"]; ok {
		if _, h := opts["http_host"]; h {
			return nil, level, bad("http_url", "set either http_url or http_host/http_port, not both")
		}
		out = append(out, WithURL(strings.TrimSpace(u)))
	} else {
		host, port := strings.TrimSpace(opts["http_host"]), strings.TrimSpace(opts["http_port"])
		if host == "" {
			return nil, level, bad("http_host", "missing; set plugin_opt_http_host (and plugin_opt_http_port) or plugin_opt_http_url")
		}
		if port != "" {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return nil, level, bad("http_port", "%q is not a port 1..65535", port)
			}
		}
		out = append(out, WithHost(host, port, tls))
	}
	user, super, acl := DefaultUserPath, DefaultSuperuserPath, DefaultACLPath
	if v, ok := opts["http_getuser_uri"]; ok {
		user = strings.TrimSpace(v)
	}
	if v, ok := opts["http_superuser_uri"]; ok {
		super = strings.TrimSpace(v)
	}
	if v, ok := opts["http_aclcheck_uri"]; ok {
		acl = strings.TrimSpace(v)
	}
	for _, p := range []struct{ name, v string }{{"http_getuser_uri", user}, {"http_superuser_uri", super}, {"http_aclcheck_uri", acl}} {
		if p.v == "" && p.name == "http_superuser_uri" {
			continue
		}
		if !strings.HasPrefix(p.v, "/") || strings.ContainsAny(p.v, " ?#") {
			return nil, level, bad(p.name, "%q must be a path starting with /", p.v)
		}
	}
	out = append(out, WithPaths(user, super, acl))
	if v, ok := opts["http_timeout"]; ok {
		v = strings.TrimSpace(v)
		var d time.Duration
		if n, err := strconv.Atoi(v); err == nil {
			d = time.Duration(n) * time.Second
		} else if d, err = time.ParseDuration(v); err != nil {
			return nil, level, bad("http_timeout", "%q is not whole seconds or a duration such as 500ms", v)
		}
		if d <= 0 || d > time.Minute {
			return nil, level, bad("http_timeout", "%q is out of range; want more than 0 and at most 60s", v)
		}
		out = append(out, WithTimeout(d))
	}
	if v, ok := opts["http_params_mode"]; ok {
		m := ParamsMode(strings.ToLower(strings.TrimSpace(v)))
		if m != ParamsJSON && m != ParamsForm {
			return nil, level, bad("http_params_mode", "%q is not json or form", v)
		}
		out = append(out, WithParamsMode(m))
	}
	if v, ok := opts["http_response_mode"]; ok && strings.TrimSpace(v) != "status" {
		return nil, level, bad("http_response_mode", "%q is not supported; only status (2xx allows, 4xx denies, 5xx refuses)", v)
	}
	if v, ok := opts["http_method"]; ok && !strings.EqualFold(strings.TrimSpace(v), "POST") {
		return nil, level, bad("http_method", "%q is not supported; only POST", v)
	}
	if v, ok := opts["backends"]; ok && strings.TrimSpace(v) != "http" {
		return nil, level, bad("backends", "%q is not supported; only http", v)
	}
	if v, ok := opts["http_user_agent"]; ok {
		out = append(out, WithUserAgent(v))
	}
	if v, ok := opts["http_max_idle_conns"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1024 {
			return nil, level, bad("http_max_idle_conns", "%q is not a number 1..1024", v)
		}
		out = append(out, WithMaxIdleConns(n))
	}
	if v, ok := opts["log_level"]; ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "debug":
			level = slog.LevelDebug
		case "info":
			level = slog.LevelInfo
		case "warn", "warning":
			level = slog.LevelWarn
		case "error":
			level = slog.LevelError
		default:
			return nil, level, bad("log_level", "%q is not debug, info, warn or error", v)
		}
	}
	fo, err := boolOpt("fail_open")
	if err != nil {
		return nil, level, err
	}
	out = append(out, WithFailOpen(fo))
	sticky, err := boolOpt("sticky_refusals")
	if err != nil {
		return nil, level, err
	}
	out = append(out, WithStickyRefusals(sticky))
	return out, level, nil
}

func sortedKeys() []string {
	k := make([]string, 0, len(PluginOptions))
	for n := range PluginOptions {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}
