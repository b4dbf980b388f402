package framework

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/authconform/authconform/spec"
)

// PreflightTimeout bounds the whole preflight of one target, however the
// target behaves (SPEC.md §4: within 10 s even when it hangs).
const PreflightTimeout = 8 * time.Second

// Problem is one preflight finding: the target-file field to fix and what
// was seen.
type Problem struct {
	Field string
	Msg   string
}

func (p Problem) String() string { return p.Field + ": " + p.Msg }

// Preflight checks, before any check runs, that the target file describes
// the running target (SPEC.md §4): the base URL answers; a protected
// resource without credential gets a 4xx JSON answer; every principal's
// key and login work on its own resource; the devices' keys work on their
// own state; the rate-limited key has budget; the MQTT address accepts a
// TCP connection. It returns one problem per field, masked, and never
// takes longer than PreflightTimeout.
func (c *Ctx) Preflight(ctx context.Context) []Problem {
	ctx, cancel := context.WithTimeout(ctx, PreflightTimeout)
	defer cancel()
	t := c.Target()
	tr := &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 3 * time.Second}).DialContext, ResponseHeaderTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	cl := &Client{Profile: c.Profile, BaseURL: t.BaseURL, Secrets: t.Secrets(), HTTP: NewHTTPClient(tr, 6*time.Second)}
	paths := c.Paths()

	var (
		mu  sync.Mutex
		out []Problem
		wg  sync.WaitGroup
	)
	add := func(field, format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		out = append(out, Problem{field, cl.mask(fmt.Sprintf(format, a...))})
	}
	get := func(path string, h http.Header) (*Resp, error) {
		return cl.Try(ctx, Req{Method: http.MethodGet, Path: path, Header: h, MayClose: true})
	}

	// 1. The base URL answers, and the base path is right: a protected
	// resource without credential is a 4xx JSON error, not a 404 page.
	r, err := get(paths.Protected, nil)
	if err != nil {
		add("baseURL", "%s does not answer: %v; is the server running at this address?", t.BaseURL, shortErr(err))
		return out
	}
	// Only what says "this is not the API" stops the run: a 404/405, a
	// non-4xx, an HTML page. A 401 whose body or Content-Type is wrong is
	// the implementation's defect, for AUTH-001 to judge.
	ct := r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if r.Status == 404 || r.Status == 405 || r.Status < 400 || r.Status > 499 || mt == "text/html" || (!IsJSONType(ct) && r.Status != 401 && r.Status != 403) {
		add("baseURL", "GET %s%s without a credential answered %d %q; want a 4xx JSON error (401): baseURL or base path wrong?",
			c.Profile.BasePath, paths.Protected, r.Status, ct)
		return out
	}

	// 2. Every credential works on its owner's own resource; in parallel,
	// each bounded by ctx.
	own := func(field, path string, h http.Header) {
		defer wg.Done()
		r, err := get(path, h)
		switch {
		case err != nil:
			add(field, "GET %s%s failed: %v", c.Profile.BasePath, path, shortErr(err))
		case r.Status == 429:
			add(field, "GET %s%s answered 429: the key has no budget left; wait for its window or give a fresh one", c.Profile.BasePath, path)
		case r.Status != 200:
			add(field, "GET %s%s with this credential answered %d, want 200: give a valid credential of this principal", c.Profile.BasePath, path, r.Status)
		}
	}
	principals := []struct {
		name, path string
		p          spec.Principal
	}{
		{"admin", paths.Protected, t.Principals.Admin},
		{"member", paths.Protected, t.Principals.Member},
		{"outsider", paths.OutsiderHome, t.Principals.Outsider},
	}
	for _, pr := range principals {
		if c.Profile.UserKeyPrefix != "" && pr.p.APIKey != "" {
			wg.Add(1)
			go own("principals."+pr.name+".apiKey", pr.path, cl.UserCred(pr.p.APIKey))
		}
		if c.Profile.Login != nil && pr.p.Email != "" {
			wg.Add(1)
			go func(name, path string, p spec.Principal) {
				defer wg.Done()
				r, err := cl.Try(ctx, Req{Method: http.MethodPost, Path: c.Profile.Login.Path, JSON: map[string]string{"email": p.Email, "password": p.Password}, MayClose: true})
				if err != nil {
					add("principals."+name+".password", "login failed: %v", shortErr(err))
					return
				}
				tok := ParseTokens(c.Profile.Login, r)
				if c.Profile.Login.RefDefined && (r.Status == 404 || r.Status == 405) {
					// A ref-defined login the target does not have: the
					// specs that need it are not-applicable, not a
					// preflight problem.
					return
				}
				if r.Status == 429 {
					add("principals."+name+".password", "POST %s%s as %s answered 429: the login is rate limited; wait or raise the fixture's budget", c.Profile.BasePath, c.Profile.Login.Path, p.Email)
					return
				}
				if r.Status != 200 || (tok.Access == "" && !c.Profile.Login.RefDefined) {
					add("principals."+name+".password", "POST %s%s as %s answered %d without %q: give the fixture user's email and password",
						c.Profile.BasePath, c.Profile.Login.Path, p.Email, r.Status, c.Profile.Login.AccessField)
					return
				}
				cl.AddSecret(tok.Access, tok.Refresh)
				if c.Profile.UserKeyPrefix == "" && tok.Access != "" {
					// No user keys: the JWT is the principal's credential.
					wg.Add(1)
					own("principals."+name+".password", path, Cred(spec.TransportBearer, tok.Access))
				}
			}(pr.name, pr.path, pr.p)
		}
	}
	for i, d := range t.Devices {
		if c.Profile.DeviceKeyHeader == "" {
			break
		}
		wg.Add(1)
		go own(fmt.Sprintf("devices[%d].apiKey", i), c.DeviceStatePath(d.UUID), Cred(spec.TransportDeviceKey, d.APIKey))
	}
	if rl := t.RateLimited.APIKey; rl != "" {
		h := cl.UserCred(rl)
		path := paths.Protected
		if c.Profile.UserKeyPrefix == "" {
			// iotistica: the rate-limited key is a device key.
			h, path = Cred(spec.TransportDeviceKey, rl), ""
			if id := limitedDevice(t); id != "" {
				path = c.DeviceStatePath(id)
			}
		}
		if path != "" {
			wg.Add(1)
			go own("rateLimited.apiKey", path, h)
		}
	}
	if t.MQTT != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := url.Parse(t.MQTT.Address)
			if err != nil {
				add("mqtt.address", "%q is not tcp://host:port", t.MQTT.Address)
				return
			}
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			conn, err := d.DialContext(dctx, "tcp", u.Host)
			if err != nil {
				add("mqtt.address", "%s accepts no TCP connection: %v; is the broker running?", u.Host, shortErr(err))
				return
			}
			_ = conn.Close()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Field < out[j].Field })
	return out
}

// limitedDevice is the UUID the rate-limited device key belongs to, when
// the target file lists it among its devices ("" otherwise: the preflight
// cannot tell which state path is its own, and leaves the budget to the
// rate-limit checks' own controls).
func limitedDevice(t *spec.Target) string {
	for _, d := range t.Devices {
		if d.APIKey == t.RateLimited.APIKey {
			return d.UUID
		}
	}
	return ""
}

func shortErr(err error) string { return firstLine(err.Error()) }
