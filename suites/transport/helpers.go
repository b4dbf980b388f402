package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"

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
	return keySubject{Key: t.Devices[0].APIKey, Prefix: c.Profile.DeviceKeyPrefix, Path: c.DeviceStatePath(t.Devices[0].UUID),
		Transports: []spec.Transport{spec.TransportDeviceKey}, What: "device 0's API key"}
}

// freshLogin logs principal p in (who names it in messages). The login is
// a means here, not what the transport checks judge (JWT-001 does): a
// failed login is a failed control, so the spec ends as error.
func freshLogin(c *framework.Ctx, cl *framework.Client, p spec.Principal, who string) framework.Tokens {
	l := c.Profile.Login
	if l == nil {
		framework.SkipNotRun("profile %s has no login, which this spec needs", c.Name())
	}
	r := cl.PostJSON(l.Path, nil, map[string]string{"email": p.Email, "password": p.Password})
	framework.Control(r, "login as "+who+" (the target file's email and password)", 200)
	t := framework.ParseTokens(l, r)
	framework.ControlOK(t.Access != "", "the login response of %s carries no %q\n%s", who, l.AccessField, r.Exchange)
	cl.AddSecret(t.Access, t.Refresh)
	return t
}

// headerName returns the request header carrying a credential by tr and the
// text that precedes the credential in its value.
func headerName(tr spec.Transport) (name, valuePrefix string) {
	name, scheme, ok := tr.Header()
	if !ok {
		panic("transport: unknown transport " + string(tr)) // profiles are validated on load
	}
	if scheme != "" {
		return name, scheme + " "
	}
	return name, ""
}

// probeResult is what a hostile raw request got back.
type probeResult struct {
	// Resp has Status 0 when no response (status line and headers) came.
	*framework.Resp
	// Closed: the connection was closed (EOF, reset) before a response.
	Closed bool
	// TimedOut: neither a response nor a close within the deadline.
	TimedOut bool
	// WriteErr is why writing the request failed, if it did: a server may
	// answer and close before it has read a huge request, so a failed
	// write does not mean there is no answer.
	WriteErr error
}

// rawProbe writes one HTTP/1.1 GET with the given header lines byte for
// byte on a fresh connection (Go's client refuses NUL and some other bytes
// in header values) and reads the response WHILE the request is being
// written: a server that answers 400/431 and closes as soon as it has seen
// too much is judged by that answer, even when the rest of the write then
// fails ("broken pipe", "connection reset"). Every step is bounded by
// timeout and bodies by framework.MaxBody. The exchange (secrets masked)
// is in the result; the caller records it. err is set only when the request could not be sent at
// all (bad base URL, dial failed): the spec cannot judge anything then.
func rawProbe(ctx context.Context, cl *framework.Client, path string, headerLines []string, timeout time.Duration) (probeResult, error) {
	u, err := url.Parse(cl.BaseURL)
	if err != nil {
		return probeResult{}, fmt.Errorf("transport: base URL: %v", err)
	}
	host := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		return probeResult{}, fmt.Errorf("transport: dial %s: %v", host, err)
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
	fmt.Fprintf(&tr, "> GET %s (raw HTTP/1.1 write, %d bytes)\n", target, req.Len())
	for _, l := range headerLines {
		// Mask before shortening: a cut secret no longer matches the mask.
		fmt.Fprintf(&tr, "> %s\n", printable(spec.Mask(l, cl.Secrets), 200))
	}

	writeDone := make(chan error, 1)
	go func() {
		_, err := conn.Write(req.Bytes())
		writeDone <- err
	}()
	var res probeResult
	hr, rerr := http.ReadResponse(bufio.NewReader(conn), nil)
	var body []byte
	var bodyErr error
	if rerr == nil {
		body, bodyErr = io.ReadAll(io.LimitReader(hr.Body, framework.MaxBody))
		hr.Body.Close()
	}
	// Closing the connection ends a write still blocked on a server that
	// stopped reading.
	_ = conn.Close()
	if err := <-writeDone; err != nil {
		res.WriteErr = err
		fmt.Fprintf(&tr, "(write failed after the server stopped reading: %v)\n", err)
	}
	if rerr != nil {
		var ne net.Error
		if errors.As(rerr, &ne) && ne.Timeout() {
			res.TimedOut = true
			fmt.Fprintf(&tr, "< (no response and no close within %s)\n", timeout)
		} else {
			res.Closed = true
			fmt.Fprintf(&tr, "< (connection closed without a response: %v)\n", rerr)
		}
		text := spec.Mask(tr.String(), cl.Secrets)
		res.Resp = &framework.Resp{Status: 0, Header: http.Header{}, Exchange: text}
		return res, nil
	}
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
	if bodyErr != nil {
		// The status line and headers came; the status is the answer.
		fmt.Fprintf(&tr, "(body cut after %d bytes: %v)\n", len(body), bodyErr)
	}
	text := spec.Mask(tr.String(), cl.Secrets)
	res.Resp = &framework.Resp{Status: hr.StatusCode, Header: hr.Header, Body: body, Exchange: text}
	return res, nil
}

// probeVerdict is the AUTH-009 judgement of one hostile request (SPEC.md:
// "4xx, or the connection closed without a response; never 5xx"): "" when
// the answer is acceptable, else why it is not. served allows a 2xx (the
// duplicated-header probe: which of two credentials counts is AUTH-008's
// business, not robustness). A timeout is not judged here (the caller
// makes it inconclusive).
func probeVerdict(r probeResult, served bool) string {
	switch {
	case r.Closed:
		return ""
	case r.Status >= 500:
		return fmt.Sprintf("the server failed (%d) on a hostile request: it must answer 4xx or close the connection, never 5xx", r.Status)
	case r.Status >= 400:
		return ""
	case served && r.Status >= 200 && r.Status < 300:
		return ""
	case served:
		return fmt.Sprintf("expected a 4xx, a 2xx or a closed connection, got %d", r.Status)
	}
	return fmt.Sprintf("expected a 4xx or a closed connection, got %d", r.Status)
}

// expectRobust sends one hostile raw request and judges it: a failed
// verdict fails the spec; a dial failure or a timeout (no answer, no close)
// makes it inconclusive.
func expectRobust(ctx context.Context, cl *framework.Client, path string, headerLines []string, served bool) {
	r, err := rawProbe(ctx, cl, path, headerLines, framework.DefaultTimeout)
	if err != nil {
		framework.Inconclusive("the hostile request could not be sent: %v", err)
	}
	AddReportEntry("exchange", r.Exchange, ReportEntryVisibilityNever)
	if r.TimedOut {
		framework.Inconclusive("the target neither answered nor closed the connection within %s\n%s", framework.DefaultTimeout, r.Exchange)
	}
	if why := probeVerdict(r, served); why != "" {
		Fail(why+"\n"+r.Exchange, 1)
	}
	if r.Closed {
		framework.Info("the target closed the connection without a response (allowed)")
	}
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
