package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega/types"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// keySubject is the long-lived key the transport checks mutate and the
// place it is valid: the admin's user API key on the protected resource, or
// (iotistica, which has no user keys) device 0's key on its own state.
type keySubject struct {
	Key        string
	Prefix     string
	Path       string
	Transports []spec.Transport
	// What names the key in spec texts ("the admin's API key").
	What string
}

func subjectOf(c *framework.Ctx) keySubject {
	t := c.Target()
	if c.Profile.UserKeyPrefix != "" {
		return keySubject{Key: t.Principals.Admin.APIKey, Prefix: c.Profile.UserKeyPrefix, Path: c.Paths().Protected,
			Transports: c.Profile.Transports, What: "the admin's API key"}
	}
	return keySubject{Key: t.Devices[0].APIKey, Prefix: c.Profile.DeviceKeyPrefix, Path: framework.DeviceStatePath(t.Devices[0].UUID),
		Transports: []spec.Transport{spec.TransportDeviceKey}, What: "device 0's API key"}
}

// adminJWT returns an access token of the admin (one login per run).
func adminJWT(c *framework.Ctx, cl *framework.Client) string {
	return c.CachedLogin(cl, c.Target().Principals.Admin)
}

// adminCred returns the admin's credential sent by transport tr: the user
// API key where the profile has user keys, else (iotistica) the admin JWT.
func adminCred(c *framework.Ctx, cl *framework.Client, tr spec.Transport) http.Header {
	if c.Profile.UserKeyPrefix != "" {
		return framework.Cred(tr, c.Target().Principals.Admin.APIKey)
	}
	return framework.Cred(tr, adminJWT(c, cl))
}

// adminSecret is the admin's default credential (key or JWT).
func adminSecret(c *framework.Ctx, cl *framework.Client) string {
	if c.Profile.UserKeyPrefix != "" {
		return c.Target().Principals.Admin.APIKey
	}
	return adminJWT(c, cl)
}

// expectServing asserts that a normal, valid request still gets 200.
func expectServing(c *framework.Ctx, cl *framework.Client, offset int) {
	r := cl.Get(c.Paths().Protected, adminCred(c, cl, c.Profile.Transports[0]))
	if r.Status != http.StatusOK {
		Fail(fmt.Sprintf("after the hostile request a normal, valid request must still get 200, got %d\n%s", r.Status, r.Exchange), offset+1)
	}
}

// headerName returns the request header carrying a credential by tr and the
// text that precedes the credential in its value.
func headerName(tr spec.Transport) (name, valuePrefix string) {
	switch tr {
	case spec.TransportBearer:
		return "Authorization", "Bearer "
	case spec.TransportRawAuthorization:
		return "Authorization", ""
	case spec.TransportXAPIKey:
		return "X-API-Key", ""
	case spec.TransportDeviceKey:
		return "X-Device-API-Key", ""
	}
	panic("transport: unknown transport " + string(tr))
}

// rawGet writes one HTTP/1.1 GET with the given header lines byte for byte
// on a fresh connection (Go's client refuses NUL and some other bytes in
// header values) and reads the response. Every step is bounded by a
// deadline. The exchange is recorded, secrets masked.
func rawGet(ctx context.Context, cl *framework.Client, path string, headerLines []string) (*framework.Resp, error) {
	u, err := url.Parse(cl.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("transport: base URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, framework.DefaultTimeout)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %v", host, err)
	}
	if u.Scheme == "https" {
		conn = tls.Client(conn, &tls.Config{ServerName: u.Hostname()})
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)

	var req bytes.Buffer
	target := cl.Profile.BasePath + path
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: authconform-raw\r\nAccept: application/json\r\n", target, u.Host)
	for _, l := range headerLines {
		req.WriteString(l)
		req.WriteString("\r\n")
	}
	req.WriteString("Connection: close\r\n\r\n")

	var tr strings.Builder
	fmt.Fprintf(&tr, "> GET %s (raw HTTP/1.1 write)\n", target)
	for _, l := range headerLines {
		// Mask before shortening: a cut secret no longer matches the mask.
		fmt.Fprintf(&tr, "> %s\n", printable(spec.Mask(l, cl.Secrets), 200))
	}
	if _, err := conn.Write(req.Bytes()); err != nil {
		// The server may answer and close before reading a huge request.
		fmt.Fprintf(&tr, "(write error: %v)\n", err)
	}
	hr, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		fmt.Fprintf(&tr, "< (no HTTP response: %v)\n", err)
		text := spec.Mask(tr.String(), cl.Secrets)
		AddReportEntry("exchange", text, ReportEntryVisibilityNever)
		return &framework.Resp{Status: 0, Header: http.Header{}, Exchange: text}, nil
	}
	defer hr.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(hr.Body, 1<<20))
	fmt.Fprintf(&tr, "< %d %s\n", hr.StatusCode, http.StatusText(hr.StatusCode))
	keys := make([]string, 0, len(hr.Header))
	for k := range hr.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range hr.Header[k] {
			fmt.Fprintf(&tr, "< %s: %s\n", k, printable(spec.Mask(v, cl.Secrets), 200))
		}
	}
	if len(body) > 0 {
		fmt.Fprintf(&tr, "<\n< %s\n", printable(spec.Mask(string(body), cl.Secrets), 600))
	}
	text := spec.Mask(tr.String(), cl.Secrets)
	AddReportEntry("exchange", text, ReportEntryVisibilityNever)
	return &framework.Resp{Status: hr.StatusCode, Header: hr.Header, Body: body, Exchange: text}, nil
}

// printable escapes control and non-UTF-8 bytes and shortens s.
func printable(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < 0x20 || ch >= 0x7f {
			fmt.Fprintf(&b, `\x%02x`, ch)
		} else {
			b.WriteByte(ch)
		}
		if b.Len() > n {
			fmt.Fprintf(&b, "…(%d more bytes)", len(s)-i-1)
			break
		}
	}
	return b.String()
}

// Be4xx succeeds when a *framework.Resp has a 4xx status (a client error:
// the server understood that the request was bad and kept its footing).
func Be4xx() types.GomegaMatcher { return be4xx{} }

type be4xx struct{}

func (be4xx) Match(actual any) (bool, error) {
	r, ok := actual.(*framework.Resp)
	if !ok {
		return false, fmt.Errorf("Be4xx wants a *framework.Resp, got %T", actual)
	}
	return r.Status >= 400 && r.Status <= 499, nil
}

func (be4xx) FailureMessage(actual any) string {
	r := actual.(*framework.Resp)
	what := fmt.Sprintf("status %d", r.Status)
	if r.Status == 0 {
		what = "no HTTP response at all (connection closed or timed out)"
	}
	return fmt.Sprintf("expected a 4xx client error, got %s\n%s", what, r.Exchange)
}

func (be4xx) NegatedFailureMessage(actual any) string {
	return fmt.Sprintf("expected a status other than 4xx\n%s", actual.(*framework.Resp).Exchange)
}

// volatileHeader reports whether a response header's value may differ
// between two otherwise identical responses (time, rate-limit budget).
func volatileHeader(name string) bool {
	n := http.CanonicalHeaderKey(name)
	return n == "Date" || strings.HasPrefix(n, "X-Ratelimit-") || n == "Retry-After"
}

// sameResponse explains how two responses differ in status, body, header
// names and non-volatile header values ("" when they are the same).
func sameResponse(a, b *framework.Resp) string {
	var diffs []string
	if a.Status != b.Status {
		diffs = append(diffs, fmt.Sprintf("status %d vs %d", a.Status, b.Status))
	}
	if !bytes.Equal(a.Body, b.Body) {
		diffs = append(diffs, fmt.Sprintf("body %q vs %q", printable(string(a.Body), 300), printable(string(b.Body), 300)))
	}
	names := map[string]bool{}
	for k := range a.Header {
		names[k] = true
	}
	for k := range b.Header {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		va, oka := a.Header[k]
		vb, okb := b.Header[k]
		switch {
		case oka != okb:
			diffs = append(diffs, fmt.Sprintf("header %s present in only one response", k))
		case !volatileHeader(k) && strings.Join(va, "\n") != strings.Join(vb, "\n"):
			diffs = append(diffs, fmt.Sprintf("header %s: %q vs %q", k, strings.Join(va, ", "), strings.Join(vb, ", ")))
		}
	}
	return strings.Join(diffs, "; ")
}
