// Package transport holds the conformance specs of the transport and
// error-dialect area (AUTH-001 .. AUTH-011): how a credential travels, what
// a request without or with a bad credential gets back, and how the server
// copes with hostile header values.
package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// challenge is the start of an RFC 9110 §11.6.1 challenge: an auth-scheme
// token, optionally followed by a space and parameters or a token68.
var challenge = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+( .*)?$")

// unknownKey is a well-formed key with the right prefix that nobody owns.
func unknownKey(s keySubject) string {
	return s.Prefix + spec.RandomBase62(len(s.Key)-len(s.Prefix))
}

// wrongPrefix returns a prefix of the same shape that is not the profile's.
func wrongPrefix(p string) string {
	if strings.HasSuffix(p, "_live_") {
		return strings.TrimSuffix(p, "_live_") + "_test_"
	}
	if p[0] == 'x' {
		return "y" + p[1:]
	}
	return "x" + p[1:]
}

func flipCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsUpper(r):
			return unicode.ToLower(r)
		case unicode.IsLower(r):
			return unicode.ToUpper(r)
		}
		return r
	}, s)
}

// keyVariant is one row of the AUTH-004 table: a near miss of a real key.
type keyVariant struct {
	name string
	make func(s keySubject) string
}

var keyVariants = []keyVariant{
	{"an unknown key with the profile's prefix", unknownKey},
	{"the real key's secret part under a wrong prefix", func(s keySubject) string { return wrongPrefix(s.Prefix) + s.Key[len(s.Prefix):] }},
	{"the real key without its last character", func(s keySubject) string { return s.Key[:len(s.Key)-1] }},
	{"the real key cut to half its length", func(s keySubject) string { return s.Key[:len(s.Prefix)+(len(s.Key)-len(s.Prefix))/2] }},
	{"the real key's prefix alone", func(s keySubject) string { return s.Prefix }},
	{"the real key with one character appended", func(s keySubject) string { return s.Key + "A" }},
	{"the real key with one character appended after a space", func(s keySubject) string { return s.Key + " A" }},
	{"the real key with the case of its secret part flipped", func(s keySubject) string { return s.Prefix + flipCase(s.Key[len(s.Prefix):]) }},
	{"the real key with the case of every letter flipped", func(s keySubject) string { return flipCase(s.Key) }},
}

func hasNoStore(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-store") {
				return true
			}
		}
	}
	return false
}

var _ = framework.Area("transport", func(c *framework.Ctx) {
	var cl *framework.Client
	BeforeEach(func() { cl = c.Client() })

	// adminSecret is the admin's default credential (a user API key, else
	// a cached JWT); adminCred sends it by transport tr.
	adminSecret := func() string { return c.DefaultSecret(cl, c.Target().Principals.Admin) }
	adminCred := func(tr spec.Transport) http.Header { return framework.Cred(tr, adminSecret()) }

	subj := subjectOf(c)
	name := c.Name()
	// devices: the profile has device keys (a device control plane with its own key header).
	devices := c.Profile.Can(spec.CapDeviceKeys)

	// ownerWorks is the positive control of every negative assertion on
	// the subject's resource: the subject's real key by transport tr gets
	// 200 on that very resource.
	ownerWorks := func(tr spec.Transport) {
		framework.Control(cl.Get(subj.Path, framework.Cred(tr, subj.Key)), fmt.Sprintf("%s by %s on %s", subj.What, tr, subj.Path), 200)
	}
	// adminWorks is the same control for the admin on path p.
	adminWorks := func(p string, tr spec.Transport) {
		framework.Control(cl.Get(p, adminCred(tr)), fmt.Sprintf("the admin's credential by %s on %s", tr, p), 200)
	}

	// expectServed is the assertion of the positive checks (AUTH-003,
	// AUTH-006, AUTH-010): 200. A 429 or a 5xx says nothing about the
	// transport or the route (budget, a broken server): error, not failed.
	expectServed := func(r *framework.Resp) {
		if r.Status == 429 || r.Status >= 500 {
			framework.Inconclusive("a request that must succeed got %d, which says nothing about what this check judges\n%s", r.Status, r.Exchange)
		}
		ExpectWithOffset(1, r).To(framework.HaveStatus(200))
	}

	// AUTH-001 ------------------------------------------------------------
	c.It("AUTH-001", "answers a request without any credential on a protected resource with 401, the profile's error body and Content-Type application/json, because clients of every seed parse that body (the admin's credential gets 200 there)", func() {
		adminWorks(c.Paths().Protected, c.Profile.Transports[0])
		Expect(cl.Get(c.Paths().Protected, nil)).To(c.Be401Missing())
	})
	// A specific resource: roboticks' project devices are in seed 000 (MUST);
	// the others' per-object paths (/workspaces/{id}, /clients/{id},
	// /agents/{uuid}) are ref-defined, so there it is a SHOULD part, and a
	// 404/405 for the admin means the target has no such route.
	ownSpec := c.It
	if c.Profile.Resources.ByIDRefDefined {
		ownSpec = c.ItShould
	}
	ownSpec("AUTH-001", "answers a request without credential on a specific protected resource with the same 401 body, because the error dialect does not depend on the route (the admin's credential gets 200 there)", func() {
		own := c.Paths().Own
		r := cl.Get(own, adminCred(c.Profile.Transports[0]))
		if c.Profile.Resources.ByIDRefDefined && (r.Status == 404 || r.Status == 405) {
			framework.SkipNotApplicable("the target has no per-object resource at the reference's (ref-defined) GET %s: %d", own, r.Status)
		}
		framework.Control(r, "the admin's credential on "+own, 200)
		Expect(cl.Get(own, nil)).To(c.Be401Missing())
	})
	if devices {
		c.It("AUTH-001", "answers a device-state request without X-Device-API-Key with 401 and the profile's error body, because the device control plane speaks the same dialect (the device's own key gets 200 there)", func() {
			ownerWorks(spec.TransportDeviceKey)
			Expect(cl.Get(subj.Path, nil)).To(c.Be401Missing())
		})
	}

	// AUTH-002 ------------------------------------------------------------
	// The 401 itself is AUTH-001's and AUTH-004's to judge: without one
	// there is no challenge to inspect.
	need401 := func(r *framework.Resp) {
		if r.Status != 401 {
			framework.Inconclusive("no 401 to inspect: got %d (AUTH-001/AUTH-004 judge the status)\n%s", r.Status, r.Exchange)
		}
	}
	c.It("AUTH-002", "should send WWW-Authenticate with a challenge on a 401 for a missing credential, because RFC 9110 §11.6.1 requires a 401 to say how to authenticate", func() {
		adminWorks(c.Paths().Protected, c.Profile.Transports[0])
		r := cl.Get(c.Paths().Protected, nil)
		need401(r)
		Expect(r.Header.Get("WWW-Authenticate")).To(MatchRegexp(challenge.String()), "no challenge in WWW-Authenticate\n%s", r.Exchange)
	})
	c.It("AUTH-002", "should send WWW-Authenticate with a challenge on a 401 for an unknown key, because RFC 6750 §3 asks for it on every authentication failure", func() {
		ownerWorks(subj.Transports[0])
		r := cl.Get(subj.Path, framework.Cred(subj.Transports[0], unknownKey(subj)))
		need401(r)
		Expect(r.Header.Get("WWW-Authenticate")).To(MatchRegexp(challenge.String()), "no challenge in WWW-Authenticate\n%s", r.Exchange)
	})

	// AUTH-003 ------------------------------------------------------------
	// Positive by nature: the MUST is that each documented transport works.
	// A body cut short or a broken connection makes the spec error
	// (framework.Client), never passed.
	for _, tr := range c.Profile.Transports {
		tr := tr
		hn, vp := headerName(tr)
		what := "the admin's API key"
		if c.Profile.UserKeyPrefix == "" {
			what = "the admin's access token"
		}
		c.It("AUTH-003", fmt.Sprintf("accepts %s sent as `%s: %s<credential>` with 200, because the profile documents that transport", what, hn, vp), func() {
			expectServed(cl.Get(c.Paths().Protected, adminCred(tr)))
		})
	}
	if devices {
		c.It("AUTH-003", "accepts a device's own API key in X-Device-API-Key on its state with 200, because seed 003 documents that header for devices", func() {
			expectServed(cl.Get(subj.Path, framework.Cred(spec.TransportDeviceKey, subj.Key)))
		})
	}

	// AUTH-004 ------------------------------------------------------------
	for _, tr := range subj.Transports {
		for _, v := range keyVariants {
			tr, v := tr, v
			hn, _ := headerName(tr)
			c.It("AUTH-004", fmt.Sprintf("answers %s in %s with 401 and the profile's error body, because only an exact, known key may authenticate (the real key gets 200 there)", v.name, hn), func() {
				k := v.make(subj)
				if len(k) > len(subj.Prefix)+4 {
					// Near misses reveal the real key: mask them too.
					cl.AddSecret(k)
				}
				ownerWorks(tr)
				Expect(cl.Get(subj.Path, framework.Cred(tr, k))).To(c.Be401())
			})
		}
	}

	// AUTH-005 ------------------------------------------------------------
	c.It("AUTH-005", "should answer an unknown, a revoked and a malformed credential identically (status, body, header names and values except Date and rate-limit counters), because any difference tells an attacker which keys exist (CWE-204)", func() {
		tr := subj.Transports[0]
		ownerWorks(tr)
		uk := unknownKey(subj)
		unknown := cl.Get(subj.Path, framework.Cred(tr, uk))
		revoked := cl.Get(subj.Path, framework.Cred(tr, c.Target().RevokedKey))
		malformed := cl.Get(subj.Path, framework.Cred(tr, "!!not-a-key!!"))
		if revoked.Status != 401 {
			// A revoked key that is not refused as an authentication
			// failure is KEY-002's MUST failure; nothing to compare here.
			framework.SkipNotRun("the target's revoked key gets %d instead of 401, which KEY-002 reports; no refusal to compare", revoked.Status)
		}
		Expect(unknown).To(framework.HaveStatus(401))
		// The same unknown key again: what differs between the two answers
		// (a request ID, a timestamp) is per-request data, not an oracle.
		unknown2 := cl.Get(subj.Path, framework.Cred(tr, uk))
		Expect(framework.AnswerDiff(unknown, unknown2, revoked)).To(BeEmpty(), "unknown vs revoked key differ\n%s\n%s", unknown.Exchange, revoked.Exchange)
		Expect(framework.AnswerDiff(unknown, unknown2, malformed)).To(BeEmpty(), "unknown vs malformed key differ\n%s\n%s", unknown.Exchange, malformed.Exchange)
	})

	// AUTH-006 ------------------------------------------------------------
	if c.Profile.Has(spec.TransportBearer) {
		for _, scheme := range []string{"bearer", "BEARER"} {
			scheme := scheme
			c.It("AUTH-006", fmt.Sprintf("should accept the scheme written %q with 200, because RFC 9110 §11.1 makes auth-scheme names case-insensitive (the same credential as `Bearer` gets 200)", scheme), func() {
				adminWorks(c.Paths().Protected, spec.TransportBearer)
				h := http.Header{}
				h.Set("Authorization", scheme+" "+adminSecret())
				expectServed(cl.Get(c.Paths().Protected, h))
			})
		}
	}

	// AUTH-007 ------------------------------------------------------------
	for _, param := range []string{"api_key", "access_token", "token"} {
		param := param
		c.It("AUTH-007", fmt.Sprintf("should refuse a valid credential passed only as ?%s= with 401 (or 400: refusing the request outright is stricter), because URLs end up in logs and histories (RFC 6750 §2.3, seed 002: never in query parameters)", param), func() {
			adminWorks(c.Paths().Protected, c.Profile.Transports[0])
			r := cl.Get(c.Paths().Protected+"?"+param+"="+url.QueryEscape(adminSecret()), nil)
			Expect(r).To(framework.HaveStatus(401, 400))
		})
		if devices {
			c.It("AUTH-007", fmt.Sprintf("should refuse a device key passed only as ?%s= on its state with 401 (or 400: refusing the request outright is stricter), because a query string is not a credential transport", param), func() {
				ownerWorks(spec.TransportDeviceKey)
				r := cl.Get(subj.Path+"?"+param+"="+url.QueryEscape(subj.Key), nil)
				Expect(r).To(framework.HaveStatus(401, 400))
			})
		}
	}

	// AUTH-008 ------------------------------------------------------------
	// Two credentials naming different principals: by two transports
	// (roboticks) or the same header twice (every profile the catalogue
	// gives AUTH-008). Controls: each credential alone works, by the same
	// transport, on a resource its owner may read.
	if ch, ok := spec.Lookup("AUTH-008"); ok && ch.AppliesTo(name) {
		t := c.Target()
		// outsiderPath is a resource the outsider reads: its org's devices
		// (roboticks), else its own list.
		outsiderPath := c.Paths().OutsiderHome
		creds := func() (admin, outsider string) {
			return adminSecret(), c.DefaultSecret(cl, t.Principals.Outsider)
		}
		bothWork := func(adminBy, outsiderBy spec.Transport) {
			a, o := creds()
			framework.Control(cl.Get(c.Paths().Protected, framework.Cred(adminBy, a)), fmt.Sprintf("the admin's credential alone by %s on the admin's resource", adminBy), 200)
			framework.Control(cl.Get(outsiderPath, framework.Cred(outsiderBy, o)), fmt.Sprintf("the outsider's credential alone by %s on %s", outsiderBy, outsiderPath), 200)
		}
		if c.Profile.Has(spec.TransportBearer) && c.Profile.Has(spec.TransportXAPIKey) && c.Profile.UserKeyPrefix != "" {
			both := func(bearer, xkey string) http.Header {
				h := http.Header{}
				h.Set("Authorization", "Bearer "+bearer)
				h.Set("X-API-Key", xkey)
				return h
			}
			c.It("AUTH-008", "should refuse the admin's key by Bearer together with the outsider's key by X-API-Key on the admin's resource with 400 or 401, because serving either principal silently hides which identity acted (RFC 6750 §2)", func() {
				bothWork(spec.TransportBearer, spec.TransportXAPIKey)
				r := cl.Get(c.Paths().Protected, both(t.Principals.Admin.APIKey, t.Principals.Outsider.APIKey))
				Expect(r).To(framework.HaveStatus(400, 401))
			})
			c.It("AUTH-008", "should refuse the admin's key by Bearer together with the outsider's key by X-API-Key on the outsider's resource with 400 or 401, because the second credential must not decide the identity either", func() {
				bothWork(spec.TransportBearer, spec.TransportXAPIKey)
				r := cl.Get(outsiderPath, both(t.Principals.Admin.APIKey, t.Principals.Outsider.APIKey))
				Expect(r).To(framework.HaveStatus(400, 401))
			})
		}
		for _, tr := range c.Profile.Transports {
			tr := tr
			hn, vp := headerName(tr)
			c.It("AUTH-008", fmt.Sprintf("should refuse two %s headers, the admin's credential and the outsider's, in either order with 400 or 401, because serving the first or the last silently picks an identity (RFC 9110 §5.3)", hn), func() {
				bothWork(tr, tr)
				a, o := creds()
				for _, order := range [][2]string{{a, o}, {o, a}} {
					h := http.Header{hn: {vp + order[0], vp + order[1]}}
					Expect(cl.Get(c.Paths().Protected, h)).To(framework.HaveStatus(400, 401))
				}
			})
		}
	}

	// AUTH-009 ------------------------------------------------------------
	// Every probe goes out raw and is read while it is written (rawProbe):
	// 4xx or a closed connection is right, 5xx is not; the owner's
	// credential works on the same resource before (control) and after
	// ("the server keeps serving", a control too: SPEC.md §4 attribution).
	credTransports := append([]spec.Transport(nil), c.Profile.Transports...)
	if devices {
		credTransports = append(credTransports, spec.TransportDeviceKey)
	}
	pathFor := func(tr spec.Transport) string {
		if tr == spec.TransportDeviceKey {
			return subj.Path
		}
		return c.Paths().Protected
	}
	prefixFor := func(tr spec.Transport) string {
		if tr == spec.TransportDeviceKey {
			return c.Profile.DeviceKeyPrefix
		}
		return c.Profile.UserKeyPrefix
	}
	validFor := func(tr spec.Transport) string {
		if tr == spec.TransportDeviceKey {
			return subj.Key
		}
		return adminSecret()
	}
	serving := func(tr spec.Transport, when string) {
		framework.Control(cl.Get(pathFor(tr), framework.Cred(tr, validFor(tr))), fmt.Sprintf("a valid credential by %s on %s %s", tr, pathFor(tr), when), 200)
	}
	for _, tr := range credTransports {
		tr := tr
		hn, vp := headerName(tr)
		path := pathFor(tr)
		kp := prefixFor(tr)
		probe := func(ctx SpecContext, served bool, lines ...string) {
			serving(tr, "before the hostile request")
			expectRobust(ctx, cl, path, lines, served)
			serving(tr, "after the hostile request (the server must keep serving)")
		}
		c.It("AUTH-009", fmt.Sprintf("answers a 64 KiB %s value with a 4xx or by closing the connection, never a 5xx, and keeps serving valid requests, because oversized credentials are an easy denial-of-service probe (a 431 and a close is fine)", hn), func(ctx SpecContext) {
			probe(ctx, false, hn+": "+vp+kp+strings.Repeat("A", 64<<10))
		}, SpecTimeout(45*time.Second))
		c.It("AUTH-009", fmt.Sprintf("answers %s carrying 100 000 dots with a 4xx or by closing the connection, never a 5xx, and keeps serving, because token parsers that split on dots must not blow up", hn), func(ctx SpecContext) {
			probe(ctx, false, hn+": "+vp+strings.Repeat(".", 100_000))
		}, SpecTimeout(45*time.Second))
		c.It("AUTH-009", fmt.Sprintf("answers %s containing NUL bytes (raw request) with a 4xx or by closing the connection, never a 5xx, and keeps serving, because a NUL must not truncate or crash key parsing", hn), func(ctx SpecContext) {
			probe(ctx, false, hn+": "+vp+kp+"abc\x00def\x00")
		}, SpecTimeout(45*time.Second))
		c.It("AUTH-009", fmt.Sprintf("answers %s containing bytes that are not UTF-8 (raw request) with a 4xx or by closing the connection, never a 5xx, and keeps serving, because key parsing must not assume valid text", hn), func(ctx SpecContext) {
			probe(ctx, false, hn+": "+vp+kp+"\xff\xfe\xc3\x28\xa0\xa1"+spec.RandomBase62(20))
		}, SpecTimeout(45*time.Second))
		c.It("AUTH-009", fmt.Sprintf("answers two %s headers, an unknown credential and a valid one, in both orders without a 5xx (a 4xx, a 2xx or a closed connection), and keeps serving, because duplicated headers must not crash the server (which one counts is AUTH-008's business)", hn), func(ctx SpecContext) {
			valid := validFor(tr)
			bogus := kp + spec.RandomBase62(32)
			serving(tr, "before the hostile requests")
			for _, order := range [][2]string{{bogus, valid}, {valid, bogus}} {
				expectRobust(ctx, cl, path, []string{hn + ": " + vp + order[0], hn + ": " + vp + order[1]}, true)
			}
			serving(tr, "after the hostile requests (the server must keep serving)")
		}, SpecTimeout(60*time.Second))
	}

	// AUTH-010 ------------------------------------------------------------
	// Positive by nature (seed 001: these need no authentication).
	for _, p := range c.Profile.PublicPaths {
		p := p
		c.It("AUTH-010", fmt.Sprintf("serves the public endpoint GET %s with 200 without any credential, because seed 001 lists it as needing no authentication", p), func() {
			expectServed(cl.Get(p, nil))
		})
		c.It("AUTH-010", fmt.Sprintf("serves the public endpoint GET %s with 200 alongside a normal valid credential, because being logged in must not break public pages", p), func() {
			expectServed(cl.Get(p, adminCred(c.Profile.Transports[0])))
		})
	}

	// AUTH-011 ------------------------------------------------------------
	if l := c.Profile.Login; l != nil {
		c.It("AUTH-011", "should mark the login response Cache-Control: no-store, because it carries a fresh token that no cache may keep (RFC 9111 §5.2.2.5)", func() {
			r := cl.PostJSON(l.Path, nil, map[string]string{"email": c.Target().Principals.Admin.Email, "password": c.Target().Principals.Admin.Password})
			if l.RefDefined && (r.Status == 404 || r.Status == 405) {
				framework.SkipNotApplicable("the target has no login at the reference's (ref-defined) POST %s: %d", l.Path, r.Status)
			}
			framework.Control(r, "login as the admin", 200)
			t := framework.ParseTokens(l, r)
			cl.AddSecret(t.Access, t.Refresh)
			Expect(hasNoStore(r.Header)).To(BeTrue(), "login response lacks Cache-Control: no-store\n%s", r.Exchange)
		})
		if l.RefreshPath != "" {
			c.It("AUTH-011", "should mark the refresh response Cache-Control: no-store, because it carries a fresh token that no cache may keep (RFC 9111 §5.2.2.5)", func() {
				tok := freshLogin(c, cl, c.Target().Principals.Admin, "the admin")
				var r *framework.Resp
				switch l.RefreshStyle {
				case spec.RefreshBearerCurrent:
					r = cl.Do(framework.Req{Method: http.MethodPost, Path: l.RefreshPath, Header: framework.Cred(spec.TransportBearer, tok.Access)})
				case spec.RefreshBodyToken:
					r = cl.PostJSON(l.RefreshPath, nil, map[string]string{l.RefreshBodyIn: tok.Refresh})
				default:
					framework.SkipNotRun("unknown refresh style %q", l.RefreshStyle)
				}
				framework.Control(r, "refresh with the admin's fresh tokens", 200)
				t := framework.ParseTokens(l, r)
				cl.AddSecret(t.Access, t.Refresh)
				Expect(hasNoStore(r.Header)).To(BeTrue(), "refresh response lacks Cache-Control: no-store\n%s", r.Exchange)
			})
		}
	}
	if c.Profile.Keys != nil || c.Target().KeyAPI != nil {
		c.It("AUTH-011", "should mark the key-creation response Cache-Control: no-store, because it carries the new key's only copy of the secret", func() {
			r := createKey(c, cl)
			Expect(hasNoStore(r.Header)).To(BeTrue(), "key-creation response lacks Cache-Control: no-store\n%s", r.Exchange)
		})
	}
})

// createKey creates a key as the admin through the target's key-creation
// endpoint (the target file's keyAPI, else the reference's path), registers
// a cleanup that revokes it where there is a revoke endpoint, and returns
// the creation response. A 404/405 at a ref-defined path is
// not-applicable; any other failure to create is a failed control.
func createKey(c *framework.Ctx, cl *framework.Client) *framework.Resp {
	k := c.CreateKey(cl)
	if p := k.Mgmt.RevokePath(k.ID); p != "" {
		DeferCleanup(func() {
			_, _ = cl.Try(context.Background(), framework.Req{Method: k.Mgmt.Revoke.Method, Path: p, Header: k.Admin})
		})
	}
	return k.Resp
}
