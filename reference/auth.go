package reference

import (
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"

	"github.com/authconform/authconform/reference/ratelimit"
	"github.com/authconform/authconform/spec"
)

// MaxCredentialLen bounds an API key or device key before lookup.
const MaxCredentialLen = 512

// via is how a principal authenticated.
type via int

const (
	viaJWT via = iota
	viaUserKey
	viaDeviceKey
)

// principal is an authenticated caller.
type principal struct {
	via    via
	user   user   // viaJWT, viaUserKey
	keyID  string // viaUserKey, viaDeviceKey
	agent  string // viaDeviceKey: agent UUID
	org    string
	limitK string
	limit  int
	window time.Duration
}

func (p *principal) isUser() bool { return p.via != viaDeviceKey }

// accept says which principals an endpoint takes.
type accept int

const (
	acceptUsers   accept = 1 << iota // user JWTs and user API keys
	acceptDevices                    // device keys (X-Device-API-Key)
)

// credential is one credential found in a request.
type credential struct {
	value     string
	transport spec.Transport
}

// printableASCII reports whether s is non-empty visible ASCII (no spaces,
// no control characters, no NUL, no UTF-8).
func printableASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// bearer extracts the token of "Bearer <token>" (scheme case-insensitive).
func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimLeft(h[len(scheme):], " ")
	return tok, printableASCII(tok)
}

// Shared, never-modified errors of the hot path (fail would format and
// allocate them on every request, successful ones included).
var (
	errInvalidCredential = fail(codeUnauthorized, "invalid credential")
	errNoCredential      = fail(codeMissing, "no credential")
)

// credHeader is one header credentials reads, and how.
type credHeader struct {
	name   string // canonical header name
	scheme string // "Bearer", or "" for a raw credential
	tr     spec.Transport
	user   bool // a user-credential transport (not the device key)
}

// credentialHeaders are the headers credentials reads for profile p: the
// profile's transports in order (under the reject-alt-transport fault only
// the first), then the device-key header where the profile has device
// keys. Authorization is read even where no transport uses it, so that a
// credential sent there is refused, not ignored.
func credentialHeaders(p *spec.Profile, f faultSet) []credHeader {
	var hs []credHeader
	seen := map[string]bool{}
	for i, tr := range p.Transports {
		if i > 0 && f.on(FaultRejectAltTransport) {
			break // DELIBERATE DEFECT: the documented second transport is ignored
		}
		name, scheme, ok := tr.Header()
		if !ok || seen[textproto.CanonicalMIMEHeaderKey(name)] {
			continue
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		seen[name] = true
		hs = append(hs, credHeader{name, scheme, tr, true})
	}
	if !seen["Authorization"] {
		hs = append([]credHeader{{"Authorization", "Bearer", spec.TransportBearer, true}}, hs...)
	}
	if p.DeviceKeyPrefix != "" && p.DeviceKeyHeader != "" {
		hs = append(hs, credHeader{textproto.CanonicalMIMEHeaderKey(p.DeviceKeyHeader), "", spec.TransportDeviceKey, false})
	}
	return hs
}

// credentials collects the credentials of r by the profile's transports
// and no others into buf. present reports whether any credential header was
// sent at all (for the "missing" body).
func (s *Server) credentials(r *http.Request, buf *[2]credential) (creds []credential, present bool, err *apiError) {
	bad := errInvalidCredential
	creds = buf[:0]
	for _, h := range s.credHeaders {
		vals := r.Header[h.name] // h.name is canonical: same as r.Header.Values
		if len(vals) == 0 {
			continue
		}
		present = true
		if len(vals) > 1 && !(s.variants.on(VariantFirstHeaderWins) && h.user) {
			return nil, true, bad // duplicated header: never guess which one counts
		}
		// Under first-header-wins (an allowed variant: AUTH-008 is only
		// SHOULD) the first of two user-credential headers counts.
		v := vals[0]
		if h.scheme != "" {
			tok, ok := bearer(v)
			if !ok {
				return nil, true, bad
			}
			creds = append(creds, credential{tok, h.tr})
			continue
		}
		if !printableASCII(v) {
			return nil, true, bad
		}
		creds = append(creds, credential{v, h.tr})
	}
	if len(creds) > 1 {
		if creds[0].value == creds[1].value && creds[0].transport != spec.TransportDeviceKey && creds[1].transport != spec.TransportDeviceKey {
			return creds[:1], true, nil // one key by two documented transports: one principal
		}
		return nil, true, bad // two credentials: refuse rather than pick one (AUTH-008)
	}
	return creds, present, nil
}

// authenticate resolves the request's principal. It never consumes a rate
// limit budget: only authenticated principals are counted.
func (s *Server) authenticate(r *http.Request, acc accept) (*principal, *apiError) {
	var buf [2]credential
	creds, present, e := s.credentials(r, &buf)
	if e != nil {
		return nil, e
	}
	if !present || len(creds) == 0 {
		return nil, errNoCredential
	}
	c := creds[0]
	bad := errInvalidCredential
	p := s.profile
	var pr *principal
	switch {
	case c.transport == spec.TransportDeviceKey:
		pr = s.deviceKeyPrincipal(c.value)
	case p.UserKeyPrefix != "" && strings.HasPrefix(c.value, p.UserKeyPrefix):
		pr = s.userKeyPrincipal(c.value)
	case c.transport == spec.TransportBearer && p.Login != nil:
		pr = s.jwtPrincipal(c.value)
	}
	if pr == nil {
		s.log.Debug("authentication failed", "transport", string(c.transport), "path", r.URL.Path)
		return nil, bad
	}
	switch {
	case pr.via == viaDeviceKey && acc&acceptDevices == 0:
		return pr, fail(codeForbidden, "device keys may not call user endpoints")
	case pr.via != viaDeviceKey && acc&acceptUsers == 0:
		return pr, fail(codeForbidden, "this endpoint is for device keys")
	}
	return pr, nil
}

func (s *Server) keyUsable(k apiKey) bool {
	if k.inactive {
		return false
	}
	if k.revoked && !s.faults.on(FaultRevocationIgnored) {
		return false
	}
	return true
}

func (s *Server) userKeyPrincipal(secret string) *principal {
	if len(secret) > MaxCredentialLen {
		return nil
	}
	k, ok := s.st.lookupKey(secret, s.faults.on(FaultKeyPrefixMatch), s.profile.UserKeyPrefix)
	if !ok || k.kind != kindUserKey || !s.keyUsable(k) {
		return nil
	}
	u, ok := s.st.user(k.owner)
	if !ok {
		return nil
	}
	return &principal{via: viaUserKey, user: u, keyID: k.id, org: u.org, limitK: k.limitKey, limit: k.limit, window: k.window}
}

func (s *Server) deviceKeyPrincipal(secret string) *principal {
	if len(secret) > MaxCredentialLen || !strings.HasPrefix(secret, s.profile.DeviceKeyPrefix) {
		return nil
	}
	k, ok := s.st.lookupKey(secret, s.faults.on(FaultKeyPrefixMatch), s.profile.DeviceKeyPrefix)
	if !ok || k.kind != kindDeviceKey || !s.keyUsable(k) {
		return nil
	}
	return &principal{via: viaDeviceKey, keyID: k.id, agent: k.agent, org: k.org, limitK: k.limitKey, limit: k.limit, window: k.window}
}

func (s *Server) jwtPrincipal(tok string) *principal {
	c, err := s.verifyAccess(tok)
	if err != nil {
		return nil
	}
	u, ok := s.st.user(c.Subject)
	if !ok {
		return nil
	}
	return &principal{via: viaJWT, user: u, org: u.org, limitK: u.limitKey}
}

// rateLimit spends one request of pr's budget, sets the X-RateLimit-*
// headers and reports whether the request may proceed.
func (s *Server) rateLimit(w http.ResponseWriter, pr *principal) bool {
	limit, window := pr.limit, pr.window
	if limit <= 0 {
		limit, window = s.cfg.RateLimit, s.cfg.RateWindow
		if s.faults.on(FaultRateLimitUnrestrictedKeys) {
			// DELIBERATE DEFECT: unrestricted credentials get a tiny budget.
			limit, window = unrestrictedFaultLimit, unrestrictedFaultWindow
		}
	}
	d := s.limiter.Allow(pr.limitK, limit, window)
	if s.faults.on(FaultResetNextWindow) {
		d.Reset = d.Reset.Add(window) // DELIBERATE DEFECT: one window too late
	}
	if !s.faults.on(FaultNoRateLimitHeaders) {
		rem := d.Remaining
		if s.faults.on(FaultRemainingOffByOne) && d.Allowed {
			rem-- // DELIBERATE DEFECT
		}
		reset := d.ResetUnix()
		if s.faults.on(FaultResetDeltaSeconds) {
			reset = int64(d.RetryAfter(s.now())) // DELIBERATE DEFECT: a delay, not a Unix time
		}
		setRateLimitHeaders(w.Header(), d.Limit, rem, reset)
		if s.variants.on(VariantDraftRateLimit) {
			setDraftRateLimitHeaders(w.Header(), d, rem, window, s.now())
		}
	}
	if !d.Allowed {
		s.writeError(w, fail(codeRateLimited, "rate limited"), d.RetryAfter(s.now()))
		return false
	}
	return true
}

// Canonical forms of the X-RateLimit-* header names (what Header.Set
// would store), computed once.
var (
	canonRateLimit     = textproto.CanonicalMIMEHeaderKey(spec.HeaderRateLimit)
	canonRateRemaining = textproto.CanonicalMIMEHeaderKey(spec.HeaderRateRemaining)
	canonRateReset     = textproto.CanonicalMIMEHeaderKey(spec.HeaderRateReset)
)

// setRateLimitHeaders is h.Set of the three X-RateLimit-* headers with two
// allocations: one string holding the three numbers, one backing array
// for the three one-element value slices.
func setRateLimitHeaders(h http.Header, limit, remaining int, reset int64) {
	var b [64]byte
	n := strconv.AppendInt(b[:0], int64(limit), 10)
	i := len(n)
	n = strconv.AppendInt(n, int64(remaining), 10)
	j := len(n)
	n = strconv.AppendInt(n, reset, 10)
	str := string(n)
	vs := []string{str[:i], str[i:j], str[j:]}
	h[canonRateLimit] = vs[0:1:1]
	h[canonRateRemaining] = vs[1:2:2]
	h[canonRateReset] = vs[2:3:3]
}

// setDraftRateLimitHeaders sets the draft-ietf-httpapi-ratelimit-headers-12
// fields for one policy "default" (variant draft-ratelimit-headers):
// RateLimit-Policy with the quota q and the window w in whole seconds,
// RateLimit with the remaining r and the seconds t until the reset (the
// same moment as Retry-After on a 429). Serialised by httpsfv, the
// library the suite parses them with.
func setDraftRateLimitHeaders(h http.Header, d ratelimit.Decision, remaining int, window time.Duration, now time.Time) {
	pp := httpsfv.NewParams()
	pp.Add("q", int64(d.Limit))
	pp.Add("w", int64(max((window+time.Second-1)/time.Second, 1)))
	rp := httpsfv.NewParams()
	rp.Add("r", int64(max(remaining, 0)))
	rp.Add("t", int64(d.RetryAfter(now)))
	if v, err := httpsfv.Marshal(httpsfv.List{httpsfv.Item{Value: "default", Params: pp}}); err == nil {
		h.Set(spec.HeaderDraftRateLimitPolicy, v)
	}
	if v, err := httpsfv.Marshal(httpsfv.List{httpsfv.Item{Value: "default", Params: rp}}); err == nil {
		h.Set(spec.HeaderDraftRateLimit, v)
	}
}

// handlerFunc is an authenticated handler; it returns an error to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request, pr *principal) error

// protect wraps h: authenticate (401/403), rate-limit (429), then run.
func (s *Server) protect(acc accept, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pr, e := s.authenticate(r, acc)
		if pr == nil {
			s.writeError(w, e, 0)
			return
		}
		if !s.rateLimit(w, pr) {
			return
		}
		if e != nil {
			s.writeError(w, e, 0)
			return
		}
		if err := h(w, r, pr); err != nil {
			s.writeError(w, asAPIError(err), 0)
		}
	}
}

// open wraps a handler that needs no credential.
func (s *Server) open(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, asAPIError(err), 0)
		}
	}
}
