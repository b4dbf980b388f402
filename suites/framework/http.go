package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
)

// Req is one request a spec sends. Path is relative to the profile's base
// path unless it starts with "http" (an absolute URL) or Raw is set.
type Req struct {
	Method string
	Path   string
	// Header is sent as is; use Cred to add a credential.
	Header http.Header
	// JSON, when non-nil, is marshalled as the body with Content-Type
	// application/json; Body is sent raw otherwise.
	JSON any
	Body []byte
	// BaseURL overrides the target's (for Deploy'd instances).
	BaseURL string
	// MayClose marks a request the target may rightly answer by closing the
	// connection (robustness probes): its transport error does not count
	// towards the target being unresponsive.
	MayClose bool
	// Reveal, when set, returns the credentials the response body reveals
	// beyond the fields the client knows (a target's own key-creation
	// shape, a token under another name): they are masked like those,
	// in this exchange and every later one.
	Reveal func(body []byte) []string
}

// Resp is what came back, with a printable, masked transcript.
type Resp struct {
	Status int
	Header http.Header
	Body   []byte
	// Exchange is the request and response as text, secrets masked.
	Exchange string
}

// JSONMap decodes the body as a JSON object (nil if it is not one).
func (r *Resp) JSONMap() map[string]any {
	var m map[string]any
	if json.Unmarshal(r.Body, &m) != nil {
		return nil
	}
	return m
}

// String returns the field as a string ("" if absent or not a string).
func (r *Resp) String(field string) string {
	s, _ := r.JSONMap()[field].(string)
	return s
}

// Client sends requests to one target and records every exchange in the
// spec's report (visible in the HTML report and failure messages).
type Client struct {
	Profile *spec.Profile
	BaseURL string
	// Secrets are masked in every transcript.
	Secrets []string
	HTTP    *http.Client

	mu sync.Mutex // guards Secrets
}

// DefaultTimeout bounds one request of a spec.
const DefaultTimeout = 10 * time.Second

// NewClient returns a client for target t of profile p with its own
// connection pool.
func NewClient(p *spec.Profile, t *spec.Target) *Client {
	tr := &http.Transport{
		Proxy:               nil, // never send test traffic through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{Profile: p, BaseURL: t.BaseURL, Secrets: t.Secrets(), HTTP: NewHTTPClient(tr, DefaultTimeout)}
}

// NewHTTPClient is the only way the suite makes an *http.Client: it never
// follows a redirect (a 3xx is an answer to judge, and following one would
// send the fixture credentials to wherever the target points), and every
// request is bounded by timeout.
func NewHTTPClient(tr http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: noRedirects}
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// MaxBody bounds every response body the suite reads; a longer body is
// cut there (and the exchange says so).
const MaxBody = 1 << 20

// Client returns a client for the context's target.
func (c *Ctx) Client() *Client {
	cl := NewClient(c.Profile, c.Target())
	return cl
}

// For returns a client for another instance of the same profile (Deploy).
func (cl *Client) For(t *spec.Target) *Client {
	cl.mu.Lock()
	secrets := append(append([]string(nil), cl.Secrets...), t.Secrets()...)
	cl.mu.Unlock()
	return &Client{Profile: cl.Profile, BaseURL: t.BaseURL, Secrets: secrets, HTTP: cl.HTTP}
}

// AddSecret masks s in every later transcript (tokens obtained by login).
func (cl *Client) AddSecret(s ...string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, x := range s {
		if x != "" {
			cl.Secrets = append(cl.Secrets, x)
		}
	}
}

// Cred returns the headers carrying cred by transport tr (the header and
// scheme the transport names: spec.Transport.Header).
func Cred(tr spec.Transport, cred string) http.Header {
	name, scheme, ok := tr.Header()
	if !ok {
		panic("framework: unknown transport " + string(tr)) // profiles are validated on load
	}
	if scheme != "" {
		cred = scheme + " " + cred
	}
	h := http.Header{}
	h.Set(name, cred)
	return h
}

// UserCred returns the headers for a user credential by the profile's
// default (first) transport.
func (cl *Client) UserCred(cred string) http.Header { return Cred(cl.Profile.Transports[0], cred) }

// Get sends GET path with headers h.
func (cl *Client) Get(path string, h http.Header) *Resp {
	return cl.Do(Req{Method: http.MethodGet, Path: path, Header: h})
}

// PostJSON sends POST path with a JSON body.
func (cl *Client) PostJSON(path string, h http.Header, body any) *Resp {
	return cl.Do(Req{Method: http.MethodPost, Path: path, Header: h, JSON: body})
}

// Do sends r and records the exchange in the spec report. A transport
// error (refused, reset, timed out, a body cut short) ends the spec as
// error: the target's answer cannot be judged. Specs that accept a closed
// connection as an answer use Try.
func (cl *Client) Do(r Req) *Resp {
	resp, err := cl.Try(context.Background(), r)
	if err != nil {
		Fail(markError+err.Error(), 1)
	}
	AddReportEntry(entryExchange, resp.Exchange, ReportEntryVisibilityNever)
	return resp
}

// Try is Do without failing or recording: for goroutines (races) and for
// polling. It is safe for concurrent use.
func (cl *Client) Try(ctx context.Context, r Req) (*Resp, error) {
	url := r.Path
	if !strings.HasPrefix(url, "http") {
		base := cl.BaseURL
		if r.BaseURL != "" {
			base = r.BaseURL
		}
		url = base + cl.Profile.BasePath + r.Path
	}
	body := r.Body
	if r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, fmt.Errorf("framework: marshal body: %w", err)
		}
		body = b
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("framework: build request %s %s: %v", method, cl.mask(url), err)
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if r.JSON != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	h := healthOf(cl.BaseURL)
	if r.BaseURL != "" {
		h = healthOf(r.BaseURL)
	}
	if why := h.dead(); why != "" {
		return nil, fmt.Errorf("framework: %s %s not sent: %s", method, cl.mask(url), why)
	}
	hr, err := cl.HTTP.Do(req)
	if err != nil {
		if !r.MayClose && ctx.Err() == nil {
			h.failure(err)
		}
		return nil, fmt.Errorf("framework: %s %s: %v", method, cl.mask(url), cl.mask(err.Error()))
	}
	defer hr.Body.Close()
	h.success()
	rb, err := io.ReadAll(io.LimitReader(hr.Body, MaxBody))
	if err != nil {
		// A body cut short (Content-Length 1000, 17 bytes sent) or a reset
		// mid-body: what came back cannot be judged.
		return nil, fmt.Errorf("framework: %s %s: answered %d but reading the body failed after %d bytes (Content-Length %d): %v",
			method, cl.mask(url), hr.StatusCode, len(rb), hr.ContentLength, cl.mask(err.Error()))
	}
	out := &Resp{Status: hr.StatusCode, Header: hr.Header, Body: rb}
	cl.learnSecrets(rb, r.Reveal)
	out.Exchange = cl.transcript(req, body, out)
	return out, nil
}

func (cl *Client) mask(s string) string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return spec.Mask(s, cl.Secrets)
}

// secretFields are response fields that carry a credential the server has
// just revealed (tokens from login/refresh, created keys, provisioning
// results), besides the profile's own (profileSecretFields).
var secretFields = []string{"access_token", "accessToken", "refreshToken", "refresh_token", "token", "key", "apiKey", "mqttPassword", "secret"}

// learnSecrets adds the credentials a response reveals to the masked set
// before its transcript is rendered, so that they are masked from the
// moment they are received: the string values (8 characters or more) of
// secretFields and of the profile's token and key fields at the top level
// of a JSON object, and what reveal (Req.Reveal) finds. It is the one place
// the suite learns secrets from responses.
func (cl *Client) learnSecrets(body []byte, reveal func([]byte) []string) {
	var found []string
	if reveal != nil {
		found = reveal(body)
	}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		for _, f := range slices.Concat(secretFields, cl.profileSecretFields()) {
			if s, ok := m[f].(string); ok && f != "" && len(s) >= 8 && !slices.Contains(found, s) {
				found = append(found, s)
			}
		}
	}
	if len(found) > 0 {
		cl.AddSecret(found...)
	}
}

// profileSecretFields are the response fields the profile names for a
// fresh credential: the login's access and refresh token, the keys API's
// secret.
func (cl *Client) profileSecretFields() []string {
	var out []string
	if p := cl.Profile; p != nil {
		if l := p.Login; l != nil {
			out = append(out, l.AccessField, l.RefreshField)
		}
		if k := p.Keys; k != nil {
			out = append(out, k.SecretJSON)
		}
	}
	return out
}

// transcript renders request and response like curl -v, long values
// shortened. Every value is masked BEFORE it is shortened: a secret cut in
// half would no longer match the mask.
func (cl *Client) transcript(req *http.Request, body []byte, r *Resp) string {
	var b strings.Builder
	fmt.Fprintf(&b, "> %s %s\n", req.Method, shorten(cl.mask(req.URL.RequestURI()), 300))
	cl.writeHeaders(&b, "> ", req.Header)
	if len(body) > 0 {
		fmt.Fprintf(&b, ">\n> %s\n", shorten(cl.mask(string(body)), 400))
	}
	fmt.Fprintf(&b, "< %d %s\n", r.Status, http.StatusText(r.Status))
	cl.writeHeaders(&b, "< ", r.Header)
	if len(r.Body) > 0 {
		fmt.Fprintf(&b, "<\n< %s\n", shorten(cl.mask(string(r.Body)), 600))
	}
	return b.String()
}

func (cl *Client) writeHeaders(b *strings.Builder, prefix string, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s%s: %s\n", prefix, k, shorten(cl.mask(v), 200))
		}
	}
}

func shorten(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d more bytes)", s[:n], len(s)-n)
}
