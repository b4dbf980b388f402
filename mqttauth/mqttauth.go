// Package mqttauth is an HTTP client for the mosquitto-go-auth HTTP backend
// protocol: the broker asks an API whether a client may connect
// (CheckUser), is a superuser (CheckSuperuser) and may use a topic
// (CheckACL).
//
// Wire format (identical to iegomez/mosquitto-go-auth's HTTP backend with
// http_method POST and http_response_mode status, so either side can be
// swapped):
//
//	POST <user path>      {"clientid":…,"password":…,"username":…}
//	POST <superuser path> {"username":…}
//	POST <acl path>       {"acc":1|2|4,"clientid":…,"topic":…,"username":…}
//
// or the same fields as application/x-www-form-urlencoded (params mode
// "form"). A 2xx answer allows; any other answer below 500 (4xx, 3xx, which
// is not followed) denies; a 5xx answer, a timeout, a refused or reset
// connection is a backend error.
//
// A backend error refuses (fail closed): the Decision is Deny and the error
// wraps ErrBackend. WithFailOpen(true) turns that into Allow. It exists ONLY
// to build the deliberately broken mutant `--fault mqtt-fail-open`; never
// enable it in a real deployment.
//
// WithStickyRefusals(true) is the deliberate defect of the mutant
// `--fault mqtt-sticky-refusal`: a refused CONNECT is remembered and
// answered to that client's next CONNECT without asking the backend, so
// the right password right after a wrong one is refused. Never enable it.
//
// There is no cache: every call goes to the backend, so a revoked key is
// refused on the very next CONNECT and on the next message it publishes or
// would receive (the ACL check runs per message). Speed comes from keep-alive
// connections, bodies written by hand into a pre-sized buffer, and, for
// plain-http backends, a small HTTP/1.1 client that does blocking system
// calls on the calling thread (see rawhttp.go for why); https and
// WithTransport use net/http.
//
// Secrets: the username (an iotistica device API key) and the password are
// never logged and never appear in returned errors.
package mqttauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults. The paths are the reference implementation's (iotistica
// profile); go-auth users set all three explicitly.
const (
	DefaultUserPath      = "/api/v1/mosquitto-auth/user"
	DefaultSuperuserPath = "/api/v1/mosquitto-auth/superuser"
	DefaultACLPath       = "/api/v1/mosquitto-auth/acl"
	// DefaultTimeout bounds one backend call as a whole: connect, request
	// and every read of the answer. Mosquitto is single-threaded and the
	// call is synchronous: a slow API stalls the whole broker (every
	// queued CONNECT) for up to this long per call.
	DefaultTimeout = 2 * time.Second
	// DefaultMaxIdleConns is the number of keep-alive connections kept to
	// the backend.
	DefaultMaxIdleConns = 16
	DefaultUserAgent    = "authconform-mqttauth"
)

// ParamsMode is how request fields are encoded.
type ParamsMode string

// Params modes, named as go-auth's http_params_mode values.
const (
	ParamsJSON ParamsMode = "json"
	ParamsForm ParamsMode = "form"
)

// Access bits of an ACL check (go-auth's acc, Mosquitto's MOSQ_ACL_*).
const (
	AccRead      = 1 // a message is delivered to a subscriber
	AccWrite     = 2 // publish
	AccSubscribe = 4
)

// Decision is the answer to one check. The zero value denies.
type Decision uint8

// Decisions.
const (
	Deny Decision = iota
	Allow
)

func (d Decision) String() string {
	if d == Allow {
		return "allow"
	}
	return "deny"
}

type settings struct {
	baseURL                       string
	host, port                    string
	tls                           bool
	userPath, superPath, aclPath  string
	timeout                       time.Duration
	mode                          ParamsMode
	failOpen                      bool
	sticky                        bool
	logger                        *slog.Logger
	userAgent                     string
	maxIdle                       int
	transport                     http.RoundTripper
	superuserSet, hostSet, urlSet bool
}

// Option configures a Client.
type Option func(*settings)

// WithURL sets the backend as a base URL, scheme://host[:port][/prefix];
// the paths are appended to it. It overrides WithHost.
func WithURL(base string) Option {
	return func(s *settings) { s.baseURL = base; s.urlSet = true }
}

// WithHost sets the backend as host and port (go-auth's http_host and
// http_port); tls selects https.
func WithHost(host, port string, tls bool) Option {
	return func(s *settings) { s.host, s.port, s.tls, s.hostSet = host, port, tls, true }
}

// WithPaths sets the three request paths. An empty superuser path disables
// the superuser check (CheckSuperuser then denies without a request, as
// go-auth does).
func WithPaths(user, superuser, acl string) Option {
	return func(s *settings) {
		s.userPath, s.superPath, s.aclPath, s.superuserSet = user, superuser, acl, true
	}
}

// WithTimeout bounds each backend call as a whole (connect, write, the
// whole answer incl. its body, a retry): a hard bound, also against a
// backend that trickles its answer.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.timeout = d } }

// WithParamsMode selects JSON or form bodies.
func WithParamsMode(m ParamsMode) Option { return func(s *settings) { s.mode = m } }

// WithFailOpen(true) ALLOWS every check whose backend call failed. This is
// the deliberate defect of the mutant `--fault mqtt-fail-open`; a real
// deployment must never set it.
func WithFailOpen(on bool) Option { return func(s *settings) { s.failOpen = on } }

// WithStickyRefusals(true) remembers every refused CONNECT per (username,
// clientid) and refuses that client's next CONNECT from memory, without a
// request. This is the deliberate defect of the mutant
// `--fault mqtt-sticky-refusal` (a cached refusal locks a valid device
// out); a real deployment must never set it.
func WithStickyRefusals(on bool) Option { return func(s *settings) { s.sticky = on } }

// WithLogger sets where backend errors and denials are logged (never with a
// username or password). Default: discard.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(s *settings) { s.userAgent = ua } }

// WithMaxIdleConns sets the size of the keep-alive pool.
func WithMaxIdleConns(n int) Option { return func(s *settings) { s.maxIdle = n } }

// WithTransport replaces the tuned transport (tests).
func WithTransport(rt http.RoundTripper) Option { return func(s *settings) { s.transport = rt } }

// Client calls the backend. It is safe for concurrent use.
type Client struct {
	userURL, superURL, aclURL string
	form                      bool
	failOpen                  bool
	sticky                    *refusals // nil unless the sticky-refusal mutant
	hc                        *http.Client
	raw                       *rawClient // plain-http fast path; nil uses hc
	userReq, superReq, aclReq []byte     // request heads up to "Content-Length: "
	log                       *slog.Logger
	header                    http.Header // template, copied per request
}

// New validates the options and returns a client with a keep-alive pool.
// Errors wrap ErrOption and name the offending option.
func New(opts ...Option) (*Client, error) {
	s := settings{
		userPath: DefaultUserPath, superPath: DefaultSuperuserPath, aclPath: DefaultACLPath,
		timeout: DefaultTimeout, mode: ParamsJSON, userAgent: DefaultUserAgent, maxIdle: DefaultMaxIdleConns,
	}
	for _, o := range opts {
		o(&s)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrOption, fmt.Sprintf(format, a...))
	}
	base := s.baseURL
	if !s.urlSet {
		if !s.hostSet || s.host == "" {
			return nil, bad("backend address missing; set a URL or a host and port")
		}
		scheme := "http"
		if s.tls {
			scheme = "https"
		}
		hp := s.host
		if s.port != "" {
			hp = net.JoinHostPort(strings.Trim(s.host, "[]"), s.port)
		}
		base = scheme + "://" + hp
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad("backend URL %q is not http(s)://host[:port][/prefix]", redactURL(base))
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, bad("backend port %q is not 1..65535", p)
		}
	}
	for _, p := range []struct{ name, v string }{{"user path", s.userPath}, {"superuser path", s.superPath}, {"acl path", s.aclPath}} {
		if p.name == "superuser path" && p.v == "" {
			continue
		}
		if !strings.HasPrefix(p.v, "/") || strings.ContainsAny(p.v, " ?#") {
			return nil, bad("%s %q must start with / and hold no spaces, ? or #", p.name, p.v)
		}
	}
	if s.timeout <= 0 || s.timeout > time.Minute {
		return nil, bad("timeout %s is out of range; want more than 0 and at most 1m", s.timeout)
	}
	if s.mode != ParamsJSON && s.mode != ParamsForm {
		return nil, bad("params mode %q is not json or form", s.mode)
	}
	if s.maxIdle < 1 || s.maxIdle > 1024 {
		return nil, bad("max idle connections %d is out of range 1..1024", s.maxIdle)
	}
	root := strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	if u.User != nil {
		root = u.Scheme + "://" + u.User.String() + "@" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/")
	}
	c := &Client{
		userURL:  root + s.userPath,
		aclURL:   root + s.aclPath,
		form:     s.mode == ParamsForm,
		failOpen: s.failOpen,
		log:      s.logger,
	}
	if s.sticky {
		c.sticky = &refusals{m: map[string]struct{}{}}
	}
	if s.superPath != "" {
		c.superURL = root + s.superPath
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	ct := "application/json"
	if c.form {
		ct = "application/x-www-form-urlencoded"
	}
	// The checks are questions without side effects. Marking them
	// idempotent (a nil-valued Idempotency-Key is not sent) lets the
	// transport replay one on a fresh connection when a pooled keep-alive
	// connection turns out to be closed by the server: that race must not
	// turn into a refused client.
	c.header = http.Header{"Content-Type": {ct}, "User-Agent": {s.userAgent}, "Idempotency-Key": nil}
	rt := s.transport
	if rt == nil {
		rt = &http.Transport{
			Proxy: nil, // never route device credentials through an env proxy
			DialContext: (&net.Dialer{
				Timeout:   s.timeout,
				KeepAlive: 30 * time.Second,
			}).DialContext,
			MaxIdleConns:           s.maxIdle,
			MaxIdleConnsPerHost:    s.maxIdle,
			IdleConnTimeout:        90 * time.Second,
			ResponseHeaderTimeout:  s.timeout,
			DisableCompression:     true,
			ForceAttemptHTTP2:      false,
			MaxResponseHeaderBytes: 16 << 10,
		}
	}
	if s.transport == nil && u.Scheme == "http" && u.User == nil {
		hostport := u.Host
		if u.Port() == "" {
			hostport = net.JoinHostPort(u.Hostname(), "80")
		}
		c.raw = &rawClient{addr: hostport, host: u.Host, timeout: s.timeout, maxIdle: s.maxIdle}
		head := func(target string) []byte {
			if target == "" {
				return nil
			}
			tu, _ := url.Parse(target)
			return []byte("POST " + tu.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
				"\r\nUser-Agent: " + s.userAgent + "\r\nContent-Type: " + ct + "\r\nContent-Length: ")
		}
		c.userReq, c.superReq, c.aclReq = head(c.userURL), head(c.superURL), head(c.aclURL)
	}
	c.hc = &http.Client{
		Transport: rt,
		Timeout:   s.timeout,
		// A redirect is an answer, not an allow: 3xx denies.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// FailOpen reports whether the client is the fail-open mutant.
func (c *Client) FailOpen() bool { return c.failOpen }

// StickyRefusals reports whether the client is the sticky-refusal mutant.
func (c *Client) StickyRefusals() bool { return c.sticky != nil }

// refusals is the sticky-refusal mutant's memory: one entry per refused
// (username, clientid), consumed by that client's next CONNECT.
type refusals struct {
	mu sync.Mutex
	m  map[string]struct{}
}

func (r *refusals) take(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.m[k]
	delete(r.m, k)
	return ok
}

func (r *refusals) add(k string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.m) >= 4096 {
		clear(r.m)
	}
	r.m[k] = struct{}{}
}

// CheckUser asks whether username/password may connect with clientID. An
// empty username is denied without a request.
func (c *Client) CheckUser(ctx context.Context, username, password, clientID string) (Decision, error) {
	if username == "" {
		c.log.Debug("mqttauth: denied: no username", "check", "user", "clientid", clientID)
		return Deny, nil
	}
	var key string
	if c.sticky != nil {
		key = username + "\x00" + clientID
		if c.sticky.take(key) {
			c.log.Warn("mqttauth: refused from the remembered refusal (sticky-refusal mutant, never in production)", "check", "user", "clientid", clientID)
			return Deny, nil
		}
	}
	b := make([]byte, 0, 48+len(username)+len(password)+len(clientID))
	b = appendBody(b, c.form,
		field{name: "clientid", str: clientID},
		field{name: "password", str: password},
		field{name: "username", str: username})
	d, err := c.check(ctx, "user", c.userURL, c.userReq, b, clientID)
	if c.sticky != nil && d == Deny && err == nil {
		c.sticky.add(key)
	}
	return d, err
}

// CheckSuperuser asks whether username is a superuser. Without a superuser
// path it denies without a request.
func (c *Client) CheckSuperuser(ctx context.Context, username string) (Decision, error) {
	if c.superURL == "" || username == "" {
		return Deny, nil
	}
	b := make([]byte, 0, 16+len(username))
	b = appendBody(b, c.form, field{name: "username", str: username})
	return c.check(ctx, "superuser", c.superURL, c.superReq, b, "")
}

// CheckACL asks whether username (connected as clientID) may use topic
// with access acc (AccRead, AccWrite, AccSubscribe).
func (c *Client) CheckACL(ctx context.Context, username, clientID, topic string, acc int) (Decision, error) {
	if username == "" {
		return Deny, nil
	}
	b := make([]byte, 0, 56+len(username)+len(clientID)+len(topic))
	b = appendBody(b, c.form,
		field{name: "acc", num: acc, isN: true},
		field{name: "clientid", str: clientID},
		field{name: "topic", str: topic},
		field{name: "username", str: username})
	return c.check(ctx, "acl", c.aclURL, c.aclReq, b, clientID)
}

// check sends one request. The log lines carry the check kind, the client
// ID and the status or error, never the username or password.
func (c *Client) check(ctx context.Context, kind, target string, head, body []byte, clientID string) (Decision, error) {
	var status int
	var err error
	if c.raw != nil {
		status, err = c.postRaw(target, head, body)
	} else {
		status, err = c.post(ctx, target, body)
	}
	switch {
	case err == nil && status >= 200 && status < 300:
		return Allow, nil
	case err == nil && status < 500:
		c.log.Debug("mqttauth: denied", "check", kind, "clientid", clientID, "status", status)
		return Deny, nil
	case err == nil:
		err = fmt.Errorf("%w: %s check: status %d", ErrBackend, kind, status)
	}
	if c.failOpen {
		c.log.Warn("mqttauth: backend error; fail_open ALLOWS (mutant, never in production)", "check", kind, "clientid", clientID, "err", err.Error())
		return Allow, err
	}
	c.log.Warn("mqttauth: backend error; refusing", "check", kind, "clientid", clientID, "err", err.Error())
	return Deny, err
}

// postRaw sends one request on the fast path. The context is not
// consulted: the call is bounded by the timeout alone.
func (c *Client) postRaw(target string, head, body []byte) (int, error) {
	req := make([]byte, 0, len(head)+8+len(body))
	req = append(req, head...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(req, "\r\n\r\n"...)
	req = append(req, body...)
	status, err := c.raw.post(req)
	if err != nil {
		return 0, fmt.Errorf("%w: Post %s: %v", ErrBackend, redactURL(target), err)
	}
	return status, nil
}

func (c *Client) post(ctx context.Context, target string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: building request: %s", ErrBackend, redactURL(target))
	}
	req.Header = c.header.Clone()
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %s", ErrBackend, describe(err))
	}
	// Drain a little so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// describe turns a transport error into a short message without the body
// (which holds the password). *url.Error already strips URL passwords.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Sprintf("%s %s: timeout", ue.Op, ue.URL)
		}
		return fmt.Sprintf("%s %s: %v", ue.Op, ue.URL, ue.Err)
	}
	return err.Error()
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// CloseIdleConnections closes the keep-alive pool.
func (c *Client) CloseIdleConnections() {
	c.hc.CloseIdleConnections()
	if c.raw != nil {
		c.raw.closeIdle()
	}
}
