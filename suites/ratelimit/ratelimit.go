// Package ratelimit holds the conformance specs of the rate-limiting area
// (RATE-001 .. RATE-007 of spec/catalogue.yaml).
//
// The target's rate-limited key (target.rateLimited: key, limit, window) is
// shared by every spec of a profile, so each spec first finds out where
// the key stands: specs that need a whole budget wait for a fresh window
// (by the X-RateLimit-Reset header, polling, never sleeping); specs that
// need an exhausted key exhaust it in a window with enough time left. The
// specs are declared in an order that lets one window serve several of
// them (002 → 003 → 004 share an exhausted window, 006 → 007 a fresh one),
// but each is correct alone and in any order.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// burst is the outcome of RATE-005's parallel burst.
type burst struct {
	total, conns      int
	before            int // requests of the window admitted before the burst
	admitted, limited int // admitted includes those before the burst
	other             map[string]int
}

var _ = framework.Area("ratelimit", func(c *framework.Ctx) {
	var (
		cl *framework.Client
		k  *keyed
		// lastBurst lets RATE-005's SHOULD spec reuse the MUST spec's
		// burst instead of waiting for another window; it runs its own
		// burst when the MUST spec did not run.
		lastBurst *burst
		led       = &ledger{}
	)
	BeforeEach(func() {
		cl = c.Client()
		k = limitedKey(c, cl, led)
	})
	timeout := func() any { return SpecTimeout(4*c.Target().RateLimited.Window.D() + 20*time.Second) }
	limitText := func() string {
		rl := c.Target().RateLimited
		return fmt.Sprintf("%d requests per %s", rl.Limit, rl.Window)
	}

	// other returns the headers and path of a principal other than the
	// rate-limited key's owner: the admin's user key, or on iotistica the
	// admin's JWT (the rate-limited key is a device key there). The login
	// is a control: anything but 200 with a token is error.
	other := func() (http.Header, string) {
		GinkgoHelper()
		return c.DefaultCred(cl, c.Target().Principals.Admin), c.Paths().Protected
	}

	// ---------------------------------------------------------------- RATE-001
	c.It("RATE-001", "sends X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, each a single integer, with Reset a Unix time in seconds not in the past, on an authenticated 200, because clients pace themselves by these headers (seed 000)", func() {
		h, path := other()
		r := framework.Control(cl.Get(path, h), "the admin on a resource it may read", http.StatusOK)
		checkHeaders(c, r)
	})
	if c.Profile.Can(spec.CapDeviceKeys) {
		c.It("RATE-001", "sends the three X-RateLimit-* headers as integers on a device key's authenticated 200 too, because devices are rate limited like users", func() {
			d, ok := otherDevice(c)
			if !ok {
				framework.SkipNotRun("the target lists no device besides the rate-limited one")
			}
			r := framework.Control(cl.Get(c.DeviceStatePath(d.UUID), framework.Cred(spec.TransportDeviceKey, d.APIKey)), "a device's key on its own state", http.StatusOK)
			checkHeaders(c, r)
		})
	}

	c.It("RATE-001", "sends the three X-RateLimit-* headers as integers on the rate-limited key's responses too, admitted or refused, because that key's client needs them most", func(ctx SpecContext) {
		k.need()
		o := k.send(ctx)
		if o.limited() && o.resp.Header.Get(spec.HeaderRateLimit) == "" && o.resp.Header.Get(spec.HeaderRateRemaining) == "" && o.resp.Header.Get(spec.HeaderRateReset) == "" {
			// Seed 000 shows the 429 with its body only: headers on the
			// refusal are SHOULD; ask again in the key's next window.
			framework.ShouldNote("the rate-limited key's 429 carries no X-RateLimit-* headers (seed 000 shows the 429 with its body only)\n%s", o.resp.Exchange)
			o = k.freshWindow(ctx)
		}
		checkHeaders(c, o.resp)
	}, timeout())

	// ---------------------------------------------------------------- RATE-008
	c.It("RATE-008", "should send the draft-12 RateLimit and RateLimit-Policy fields, where it sends them at all, as Structured Fields Lists of policies (RateLimit: r, optional t; RateLimit-Policy: q, optional w; non-negative Integers) that agree with X-RateLimit-Limit, -Remaining and -Reset of the same response, because a client may read either family (draft-ietf-httpapi-ratelimit-headers-12, RFC 9651); which family the target uses is INFO", func(ctx SpecContext) {
		k.need()
		h, path := other()
		adminSent := time.Now()
		admin := framework.Control(cl.Get(path, h), "the admin on a resource it may read", http.StatusOK)
		adminAt := time.Now()
		key := k.send(ctx)
		for _, r := range []struct {
			what     string
			resp     *framework.Resp
			sent, at time.Time
		}{{"the admin's 200", admin, adminSent, adminAt}, {fmt.Sprintf("the rate-limited key's %d", key.resp.Status), key.resp, key.sent, key.at}} {
			framework.Info("%s carries %s", r.what, rateFamily(r.resp.Header))
			problem, notes := checkDraftHeaders(r.resp.Header, r.sent, r.at)
			for _, n := range notes {
				framework.Info("%s: %s", r.what, n)
			}
			Expect(problem).To(BeEmpty(), "%s\n%s", r.what, r.resp.Exchange)
		}
	}, timeout())

	// ---------------------------------------------------------------- RATE-002
	c.It("RATE-002", "counts one window of the rate-limited key exactly: Limit stays at the key's limit, Remaining starts at Limit-1 and falls by exactly 1 per request to 0 and never below, Reset stays put and lies in the future, because clients rely on these numbers to pace themselves (seed 000)", func(ctx SpecContext) {
		k.need()
		for attempt := 1; attempt <= 2; attempt++ {
			if straddled := windowSequence(ctx, c, k); !straddled {
				return
			}
		}
		framework.Inconclusive("the window ended in the middle of the sequence twice; the window is too short for this machine")
	}, timeout())

	// ---------------------------------------------------------------- RATE-003
	c.It("RATE-003", "answers a request over the limit with 429 and application/json: roboticks with the seed's body (detail \"Rate limit exceeded. Try again in N seconds.\" and an integer retry_after, extra fields allowed), the other profiles with a JSON object (their body is ref-defined: the reference's shape is SHOULD), because a client must recognise the refusal (seed 000, RFC 6585 §4)", func(ctx SpecContext) {
		k.need()
		k.ownsLimit = true
		o := k.exhausted(ctx, 300*time.Millisecond)
		Expect(o.resp).To(c.Be429())
	}, timeout())
	c.ItShould("RATE-003", "should send a Retry-After header on a 429 that agrees with the body's retry_after within 1 s (where the body carries one) and is not shorter than the time to X-RateLimit-Reset, because a client that waits Retry-After must find its budget restored (RFC 6585 §4, RFC 9110 §10.2.3)", func(ctx SpecContext) {
		k.need()
		o := k.exhausted(ctx, 300*time.Millisecond)
		ra := o.resp.Header.Values(spec.HeaderRetryAfter)
		Expect(ra).To(HaveLen(1), "one Retry-After header\n%s", o.resp.Exchange)
		hdr, ok := retryAfterSeconds(ra[0], o.at)
		Expect(ok).To(BeTrue(), "Retry-After %q must be delay-seconds or an HTTP-date (RFC 9110 §10.2.3)\n%s", ra[0], o.resp.Exchange)
		if body, err := spec.Int(o.resp.Body, "retry_after"); err == nil {
			Expect(hdr).To(BeNumerically("~", body, 1), "Retry-After header vs retry_after\n%s", o.resp.Exchange)
			if m := detailSeconds.FindStringSubmatch(o.resp.String("detail")); c.Profile.Can(spec.CapRateLimitSeeded) && m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				Expect(n).To(Equal(body), "the N of detail \"Try again in N seconds.\" vs retry_after\n%s", o.resp.Exchange)
			}
		} else {
			// Only a ref-defined body can lack retry_after here (the
			// MUST spec demands it of roboticks); Be429 notes the shape.
			framework.Info("the 429 body carries no integer retry_after (%v); compared Retry-After with X-RateLimit-Reset only", err)
		}
		if !o.windowed() {
			framework.Info("the 429 carries no X-RateLimit-Reset that is a Unix time (RATE-001 reports a missing one); Retry-After not compared with it")
			return
		}
		toReset := math.Floor(o.resetTime().Sub(o.at).Seconds())
		Expect(float64(hdr)).To(BeNumerically(">=", toReset), "Retry-After vs the %v s to X-RateLimit-Reset\n%s", toReset, o.resp.Exchange)
	}, timeout())

	// ---------------------------------------------------------------- RATE-004
	c.It("RATE-004", "keeps serving another principal (and, iotistica, another device) that was served just before, while the rate-limited key is exhausted, because limits apply per API key or user and one client must not lock out the others (seed 000)", func(ctx SpecContext) {
		k.need()
		h, path := other()
		type principalB struct {
			what string
			path string
			h    http.Header
		}
		bs := []principalB{{"the admin (another principal)", path, h}}
		if d, ok := otherDevice(c); ok {
			bs = append(bs, principalB{"another device's key", c.DeviceStatePath(d.UUID), framework.Cred(spec.TransportDeviceKey, d.APIKey)})
		}
		for attempt := 1; attempt <= 2; attempt++ {
			// Controls: each B works, and has budget, before A is
			// exhausted (in a window of A that is not exhausted yet:
			// an earlier spec may have left it so).
			if o := k.send(ctx); o.limited() {
				if f := k.freshWindow(ctx); f.limited() {
					// A's budget never comes back (RATE-006 reports
					// that), but A is exhausted: B must still be served.
					// Without a control before, a 429 of B is error.
					for _, b := range bs {
						r := cl.Get(b.path, b.h)
						if r.Status == http.StatusTooManyRequests || r.Status >= 500 {
							framework.Inconclusive("%s got %d while key A was exhausted, and A's budget never came back, so B could not be checked before A was exhausted\n%s", b.what, r.Status, r.Exchange)
						}
						Expect(r).To(framework.HaveStatus(http.StatusOK), "%s while key A is exhausted (A got 429 just before)", b.what)
					}
					return
				}
			}
			before := make([]*framework.Resp, len(bs))
			for i, b := range bs {
				before[i] = framework.Control(cl.Get(b.path, b.h), "control: "+b.what+" before key A is exhausted", http.StatusOK)
			}
			a := k.exhausted(ctx, 500*time.Millisecond)
			during := make([]*framework.Resp, len(bs))
			for i, b := range bs {
				during[i] = cl.Get(b.path, b.h)
			}
			again := k.send(ctx)
			if a.windowed() && again.windowed() && again.reset != a.reset {
				continue // the window ended between A and B: not a test, retry
			}
			framework.ControlOK(again.limited(), "key A must still be exhausted after B's requests, got %d\n%s", again.resp.Status, again.resp.Exchange)
			for i, b := range bs {
				r := during[i]
				if r.Status == http.StatusTooManyRequests && !hadBudget(before[i]) {
					framework.Inconclusive("%s got 429 while key A was exhausted, but its own budget may be spent too (X-RateLimit-Remaining 0 or absent on its request just before), so whether the limit is shared cannot be judged\n%s\n%s", b.what, before[i].Exchange, r.Exchange)
				}
				if r.Status >= 500 {
					framework.Inconclusive("%s got %d while key A was exhausted: the target failed\n%s", b.what, r.Status, r.Exchange)
				}
				Expect(r).To(framework.HaveStatus(http.StatusOK), "%s while key A is exhausted (A got 429 just before, B had budget left)", b.what)
			}
			return
		}
		framework.Inconclusive("the window of key A ended twice while B was being served; the window is too short for this machine")
	}, timeout())

	// ---------------------------------------------------------------- RATE-006
	c.It("RATE-006", "admits the exhausted rate-limited key again once its window has passed, with its full budget (the key's limit of requests in a row), because a limit throttles, it does not ban (seed 000)", func(ctx SpecContext) {
		k.need()
		k.ownsRecovery = true
		ex := k.exhausted(ctx, 0)
		framework.ControlOK(k.led.everAdmitted(), "the rate-limited key was never admitted in this run, so it is not known to be a valid key with a budget\n%s", ex.resp.Exchange)
		// The next window begins with the first response whose Reset lies
		// beyond the exhausted one's or, without headers, with the first
		// 2xx (requests of the exhausted window get 429 and spend nothing).
		wait := 2*k.window + 5*time.Second
		next, ok := k.awaitRefill(ctx, ex, wait)
		Expect(ok).To(BeTrue(), "waited %s for the window after the exhausted one (X-RateLimit-Reset %d) to admit the key again\n%s", wait, ex.reset, ex.resp.Exchange)
		AddReportEntry("exchange", next.resp.Exchange, ReportEntryVisibilityNever)
		Expect(next.resp).To(framework.HaveStatus(http.StatusOK), "the first request after the window reset")
		for i := 2; i <= k.limit; i++ {
			o := k.send(ctx)
			Expect(o.ok()).To(BeTrue(), "request %d of %d of the new window must be admitted\n%s", i, k.limit, o.resp.Exchange)
		}
	}, timeout())

	// ---------------------------------------------------------------- RATE-009
	// RATE-009 and RATE-010 read the refill RATE-006 has just waited for
	// (the window before it exhausted, the next one spent in a row) and
	// wait for one of their own only when no spec observed one.
	refillFor := func(ctx context.Context) *refill {
		GinkgoHelper()
		if r := k.led.lastRefill(); r != nil {
			return r
		}
		return k.observeRefill(ctx)
	}
	c.It("RATE-009", "reads X-RateLimit-Reset of the exhausted rate-limited key against the refill actually observed (its first admitted request after the 429s): Unix seconds, Unix milliseconds, seconds from the response, or an HTTP-date; where the vendor document says what Reset means (roboticks, seed 000: \"Unix timestamp when limit resets\") it must be that, because clients compute their wait from it; elsewhere the reading is INFO", func(ctx SpecContext) {
		k.need()
		r := refillFor(ctx)
		// The Reset to read: the last 429's (closest to the refill), else
		// that of the last admitted response of the window: the 429
		// itself may carry the body only (RATE-001 notes it).
		var from *obs
		for i := len(r.refused) - 1; i >= 0 && from == nil; i-- {
			if len(r.refused[i].resp.Header.Values(spec.HeaderRateReset)) > 0 {
				from = &r.refused[i]
			}
		}
		if from == nil && r.lastOK.resp != nil && len(r.lastOK.resp.Header.Values(spec.HeaderRateReset)) > 0 {
			from = &r.lastOK
		}
		if from == nil {
			framework.SkipNotApplicable("the rate-limited key's responses around the refill carry no %s (RATE-001 reports a missing header), so there is nothing to read against the refill", spec.HeaderRateReset)
		}
		vs := from.resp.Header.Values(spec.HeaderRateReset)
		AddReportEntry("exchange", from.resp.Exchange, ReportEntryVisibilityNever)
		AddReportEntry("exchange", r.first.resp.Exchange, ReportEntryVisibilityNever)
		Expect(vs).To(HaveLen(1), "one %s header\n%s", spec.HeaderRateReset, from.resp.Exchange)
		f, why := classifyReset(vs[0], from.sent, from.at, r.lo(), r.hi())
		reading := string(f)
		if f == "" {
			reading = "unclassified: " + why
		}
		framework.Info("%s %q (on a %d sent %s) reads as %s; refill observed between %s (last 429 sent) and %s (first 2xx received)", spec.HeaderRateReset, vs[0], from.resp.Status, stamp(from.sent), reading, stamp(r.lo()), stamp(r.hi()))
		if want := c.Profile.RateLimitReset; want != "" {
			Expect(f).To(Equal(want), "%s %q must be %s (%s): it reads as %s\n%s\n%s", spec.HeaderRateReset, vs[0], want, c.Profile.Seed, reading, from.resp.Exchange, r.first.resp.Exchange)
		}
	}, timeout())
	c.ItShould("RATE-009", "should send on every 429 of the exhausted rate-limited key a Retry-After that parses as delay-seconds or an HTTP-date, and that is at least 1 s where the refill is less than a second away, because Retry-After: 0 sends a client straight back into the limit (RFC 9110 §10.2.3, RFC 6585 §4)", func(ctx SpecContext) {
		k.need()
		r := refillFor(ctx)
		with, subSecond := 0, 0
		for _, o := range r.refused {
			vs := o.resp.Header.Values(spec.HeaderRetryAfter)
			if len(vs) == 0 {
				continue
			}
			with++
			Expect(vs).To(HaveLen(1), "one Retry-After header\n%s", o.resp.Exchange)
			d, ok := retryAfterDelay(vs[0], o.at)
			Expect(ok).To(BeTrue(), "Retry-After %q must be delay-seconds or an HTTP-date (RFC 9110 §10.2.3)\n%s", vs[0], o.resp.Exchange)
			// The refill came no later than r.hi(): a 429 sent within
			// the last second before that had less than a second to wait.
			if r.hi().Sub(o.sent) < time.Second {
				subSecond++
				Expect(d).To(BeNumerically(">=", 1), "Retry-After %q on a 429 sent %s, under a second before the refill (by %s): a client would retry at once\n%s", vs[0], stamp(o.sent), stamp(r.hi()), o.resp.Exchange)
			}
		}
		if with == 0 {
			framework.SkipNotApplicable("the rate-limited key's 429s carry no Retry-After (RATE-003 reports that)")
		}
		if subSecond == 0 {
			framework.Inconclusive("no 429 with Retry-After was sent within the last second before the refill (last one sent %s, refill by %s): the machine stalled", stamp(r.lo()), stamp(r.hi()))
		}
		framework.Info("%d 429s carried Retry-After, %d of them under a second before the refill", with, subSecond)
	}, timeout())

	// ---------------------------------------------------------------- RATE-010
	c.It("RATE-010", "reports the most admitted requests of the rate-limited key within one window length around a window boundary: the window before the boundary spent, then the next one spent in a row right after the refill (a fixed window admits up to twice the limit there, a sliding window or token bucket the limit); INFO, because the seeds give no algorithm", func(ctx SpecContext) {
		k.need()
		r := k.led.lastRefill()
		if r == nil || time.Since(r.hi()) > k.window/2 {
			r = k.observeRefill(ctx)
		}
		// Spend the rest of the new window at once (RATE-006 has spent it
		// already when it ran just before: then this is one 429).
		for i := 0; i <= 2*k.limit; i++ {
			if o := k.send(ctx); !o.ok() {
				break
			}
		}
		n, from := mostWithin(k.led.admittedTimes(), k.window)
		before, after := 0, 0
		for _, t := range k.led.admittedTimes() {
			switch {
			case t.Before(r.lo()) && r.lo().Sub(t) < k.window:
				before++
			case !t.Before(r.lo()) && t.Sub(r.hi()) < k.window:
				after++
			}
		}
		framework.Info("the most 2xx of the rate-limited key within one window length (%s, limit %d): %d, from %s; around the refill at %s..%s: %d admitted in the window length before, %d after", k.window, k.limit, n, stamp(from), stamp(r.lo()), stamp(r.hi()), before, after)
		if n > k.limit {
			framework.Info("%d requests in one window length is %.1fx the limit: a fixed window admits a burst across its boundary", n, float64(n)/float64(k.limit))
		}
	}, timeout())

	// ---------------------------------------------------------------- RATE-007
	c.ItShould("RATE-007", "should leave the rate-limited key's budget untouched by a flood of invalid keys that share its prefix and spoof X-Forwarded-For, because otherwise anyone can lock a client out by guessing its key's prefix (OWASP API4)", func(ctx SpecContext) {
		k.need()
		flood := func() map[int]int {
			statuses := map[int]int{}
			for i := 0; i < 3*k.limit; i++ {
				req := k.req
				req.Header = req.Header.Clone()
				fake := lookalike(c.Target().RateLimited.APIKey, i)
				for name, vs := range req.Header {
					for j, v := range vs {
						req.Header[name][j] = strings.ReplaceAll(v, c.Target().RateLimited.APIKey, fake)
					}
				}
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i%250+1))
				req.Header.Set("X-Real-IP", fmt.Sprintf("198.51.100.%d", i%250+1))
				r, err := cl.Try(ctx, req)
				if err != nil {
					framework.Inconclusive("lookalike key %d of the flood got no answer: %v", i, err)
				}
				statuses[r.Status]++
				if r.Status < 400 || r.Status > 499 {
					framework.Inconclusive("an invalid lookalike key got %d, not a 4xx refusal (AUTH-004 judges that), so the victim's budget cannot be judged\n%s", r.Status, r.Exchange)
				}
			}
			framework.Info("statuses of the flood of %d lookalike keys: %v", 3*k.limit, statuses)
			return statuses
		}
		for attempt := 1; attempt <= 2; attempt++ {
			before := k.send(ctx)
			if !before.ok() || !before.windowed() || before.remaining < 2 || time.Until(before.resetTime()) < 700*time.Millisecond {
				before = k.freshWindow(ctx)
				k.needBudget(before)
			}
			flood()
			if !before.windowed() {
				// No X-RateLimit-Remaining (or no Reset that identifies
				// the window): count what is left of the
				// fresh window instead (one request of it is spent).
				admitted := 1
				for o := k.send(ctx); o.ok(); o = k.send(ctx) {
					admitted++
					if admitted > k.limit+1 {
						framework.Inconclusive("the key's limit of %d is not enforced (RATE-003 reports that), so its budget cannot be judged", k.limit)
					}
				}
				if time.Since(before.at) > k.window {
					continue // the window may have ended meanwhile: retry once
				}
				Expect(admitted).To(Equal(k.limit), "requests of the victim key admitted in the window of the flood of %d lookalike keys", 3*k.limit)
				return
			}
			after := k.send(ctx)
			if after.windowed() && after.reset != before.reset {
				continue // the window ended during the flood: retry once
			}
			Expect(after.ok()).To(BeTrue(), "the victim key after the flood\n%s", after.resp.Exchange)
			Expect(after.remaining).To(Equal(before.remaining-1), "X-RateLimit-Remaining of the victim key: %d before the flood of %d lookalike keys, one own request after it\n%s", before.remaining, 3*k.limit, after.resp.Exchange)
			return
		}
		framework.Inconclusive("the window ended during the flood twice; the window is too short for this machine")
	}, timeout())

	// ---------------------------------------------------------------- RATE-005
	runBurst := func(ctx context.Context) *burst {
		GinkgoHelper()
		total := max(10*k.limit, 64)
		workers := min(total, 128)
		clients := otherClients(ctx, c, cl, k.req.Path, workers)
		for attempt := 1; attempt <= 2; attempt++ {
			// Use the current window when the suite knows how much of it
			// it spent and most of it is left; else open a fresh one.
			o := k.send(ctx)
			if !o.ok() || !o.windowed() || time.Until(o.resetTime()) < k.window*3/5 {
				o = k.freshWindow(ctx)
				k.needBudget(o)
			}
			fresh := o
			before := 1
			if fresh.windowed() {
				before = k.led.spent(fresh.reset)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			results := make([][]obs, workers)
			errs := make([]error, workers)
			for w := 0; w < workers; w++ {
				n := total / workers
				if w < total%workers {
					n++
				}
				wg.Add(1)
				go func(w, n int) {
					defer wg.Done()
					<-start
					for i := 0; i < n; i++ {
						o, err := k.try(ctx, clients[w])
						if err != nil {
							errs[w] = err
							return
						}
						results[w] = append(results[w], o)
					}
				}(w, n)
			}
			close(start)
			wg.Wait()
			b := &burst{total: total, conns: workers, before: before, admitted: before, other: map[string]int{}}
			straddled := false
			for w := range results {
				if errs[w] != nil {
					b.other[errs[w].Error()]++
				}
				for _, o := range results[w] {
					switch {
					case o.ok():
						b.admitted++
					case o.limited():
						b.limited++
					default:
						b.other[strconv.Itoa(o.resp.Status)]++
					}
					if fresh.windowed() && o.windowed() && o.reset != fresh.reset {
						straddled = true
					}
				}
			}
			if !fresh.windowed() && time.Since(fresh.at) > k.window/2 {
				straddled = true
			}
			AddReportEntry("burst", fmt.Sprintf("%d requests over %d connections after %d admitted requests of the window: admitted %d in the window (incl. those), 429 %d, other %v, straddled window %v", total, workers, before, b.admitted, b.limited, b.other, straddled))
			if !straddled {
				return b
			}
		}
		framework.Inconclusive("the burst straddled a window boundary twice; the window is too short for this machine")
		return nil
	}
	c.It("RATE-005", fmt.Sprintf("admits at most the key's limit when 10x the limit arrive at once over at least 64 connections within one window (%s), counting the suite's own requests admitted earlier in that window, and answers every request with 2xx or 429, because a limiter that over-admits under load does not limit (seed 000)", limitText()), func(ctx SpecContext) {
		k.need()
		b := runBurst(ctx)
		lastBurst = b
		Expect(b.admitted).To(BeNumerically("<=", k.limit), "requests admitted in one window (the burst plus the suite's own earlier requests of that window), limit %d", k.limit)
		if len(b.other) > 0 {
			// Over-admission is the MUST; answers other than 2xx/429
			// (5xx, transport errors under load) leave it unjudged.
			framework.Inconclusive("requests of the burst got neither 2xx nor 429 (%v), so whether the limiter over-admits cannot be judged", b.other)
		}
	}, timeout())
	c.ItShould("RATE-005", fmt.Sprintf("should admit the key's full limit when 10x the limit arrive at once within one window (%s), because a limiter that under-admits under load throttles clients that stay within their budget", limitText()), func(ctx SpecContext) {
		k.need()
		b := lastBurst
		if b == nil {
			b = runBurst(ctx)
		}
		lastBurst = nil
		Expect(b.admitted).To(BeNumerically(">=", k.limit), "requests admitted in one window (the burst plus the suite's own earlier requests of that window), limit %d", k.limit)
	}, timeout())
})

// otherDevice is a device of the target other than the rate-limited one.
func otherDevice(c *framework.Ctx) (spec.Device, bool) {
	for _, d := range c.Target().Devices {
		if d.APIKey != c.Target().RateLimited.APIKey {
			return d, true
		}
	}
	return spec.Device{}, false
}

// detailSeconds finds the N of roboticks' "Try again in N seconds.".
var detailSeconds = regexp.MustCompile(`Try again in ([0-9]+) seconds`)

// retryAfterSeconds reads a Retry-After value, delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3), as whole seconds from at.
func retryAfterSeconds(v string, at time.Time) (int64, bool) {
	v = strings.TrimSpace(v)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, n >= 0
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(int64(math.Ceil(t.Sub(at).Seconds())), 0), true
}

// hadBudget reports whether r, a 200 of another principal, said that
// principal had at least one more request in a window not yet over.
func hadBudget(r *framework.Resp) bool {
	_, remaining, reset, err := spec.RateHeaders(r.Header)
	return err == nil && remaining >= 1 && reset >= time.Now().Unix()
}

// checkHeaders asserts RATE-001's headers on r. Reset must be a Unix time
// in seconds where seed 000 says so (roboticks); the other profiles'
// headers are ref-defined, and a Reset given as a delay in seconds is
// accepted there (INFO; RATE-009 classifies it).
func checkHeaders(c *framework.Ctx, r *framework.Resp) {
	GinkgoHelper()
	limit, remaining, reset, err := spec.RateHeaders(r.Header)
	Expect(err).NotTo(HaveOccurred(), "%s", r.Exchange)
	Expect(limit).To(BeNumerically(">=", 1), "X-RateLimit-Limit\n%s", r.Exchange)
	Expect(remaining).To(And(BeNumerically(">=", 0), BeNumerically("<=", limit)), "X-RateLimit-Remaining\n%s", r.Exchange)
	now := time.Now().Unix()
	// The seed-given rate limit (roboticks' seed 000) says Unix seconds;
	// elsewhere the headers are ref-defined and a delay is accepted.
	if !c.Profile.Can(spec.CapRateLimitSeeded) && reset >= 0 && reset < 366*24*3600 {
		framework.Info("X-RateLimit-Reset %d reads as a delay in seconds, not a Unix time (ref-defined for %s)", reset, c.Name())
		return
	}
	Expect(reset).To(BeNumerically(">=", now-1), "X-RateLimit-Reset must be a Unix time in seconds, not in the past\n%s", r.Exchange)
	Expect(reset).To(BeNumerically("<", now+366*24*3600), "X-RateLimit-Reset must be a Unix time in seconds (not milliseconds, not a delay)\n%s", r.Exchange)
}

// windowSequence spends one whole window of the key from its first
// request and checks the counting. It returns true when the window ended
// midway (the caller retries).
func windowSequence(ctx context.Context, c *framework.Ctx, k *keyed) bool {
	GinkgoHelper()
	o := k.freshWindow(ctx)
	k.needBudget(o)
	if !o.hasHeaders {
		framework.SkipNotApplicable("the rate-limited key's responses carry no integral X-RateLimit-* headers (RATE-001 reports that), so their counting cannot be checked")
	}
	// A Reset that is no Unix time: a seed-given rate limit (roboticks'
	// seed 000) demands one; where the headers are ref-defined a delay is
	// accepted, and then only the counting is checked, the window found by
	// time instead of by Reset.
	epoch := o.windowed()
	if c.Profile.Can(spec.CapRateLimitSeeded) {
		Expect(epoch).To(BeTrue(), "X-RateLimit-Reset must be a Unix time in seconds in the future (seed 000)\n%s", o.resp.Exchange)
	}
	Expect(o.ok()).To(BeTrue(), "the first request of a fresh window\n%s", o.resp.Exchange)
	Expect(o.limit).To(BeEquivalentTo(k.limit), "X-RateLimit-Limit must be the key's limit (the target says %d)\n%s", k.limit, o.resp.Exchange)
	Expect(o.remaining).To(BeEquivalentTo(o.limit-1), "X-RateLimit-Remaining of the first request of a window\n%s", o.resp.Exchange)
	if epoch {
		Expect(o.resetTime()).To(BeTemporally(">", o.at.Add(-time.Second)), "X-RateLimit-Reset must lie in the future\n%s", o.resp.Exchange)
	} else {
		framework.Info("X-RateLimit-Reset %d is no Unix time (a delay?): its stability is not checked", o.reset)
	}
	reset, prev := o.reset, o.remaining
	for i := 2; i <= k.limit+1; i++ {
		n := k.send(ctx)
		if i > k.limit && n.limited() && !n.hasHeaders {
			// Seed 000 lists the headers and shows the 429 with its body
			// only: headers on the refusal are SHOULD (RATE-001 notes it).
			framework.ShouldNote("the 429 over the limit carries no integral X-RateLimit-* headers (seed 000 shows the 429 with its body only)\n%s", n.resp.Exchange)
			return false
		}
		Expect(n.hasHeaders).To(BeTrue(), "request %d of the window: integral X-RateLimit-* headers\n%s", i, n.resp.Exchange)
		if (epoch && n.reset != reset) || (!epoch && n.at.Sub(o.at) >= k.window) {
			return true
		}
		Expect(n.limit).To(Equal(o.limit), "request %d: X-RateLimit-Limit must stay constant within a window\n%s", i, n.resp.Exchange)
		Expect(n.remaining).To(BeNumerically(">=", 0), "request %d: X-RateLimit-Remaining must never fall below 0\n%s", i, n.resp.Exchange)
		if epoch {
			Expect(n.resetTime()).To(BeTemporally(">", n.at.Add(-time.Second)), "request %d: X-RateLimit-Reset must lie in the future\n%s", i, n.resp.Exchange)
		}
		if i <= k.limit {
			Expect(n.ok()).To(BeTrue(), "request %d of %d in one window must be admitted\n%s", i, k.limit, n.resp.Exchange)
			Expect(n.remaining).To(Equal(prev-1), "request %d: X-RateLimit-Remaining must fall by exactly 1\n%s", i, n.resp.Exchange)
		} else {
			Expect(n.limited()).To(BeTrue(), "request %d, one over the limit of %d\n%s", i, k.limit, n.resp.Exchange)
			Expect(n.remaining).To(BeZero(), "X-RateLimit-Remaining of the request over the limit\n%s", n.resp.Exchange)
		}
		prev = n.remaining
	}
	return false
}

// lookalike is an invalid key that shares all but the last 6 characters
// with key (variant i).
func lookalike(key string, i int) string {
	const alphabet = spec.Base62Alphabet
	keep := max(len(key)-6, 0)
	tail := []byte(key[keep:])
	for j := range tail {
		tail[j] = alphabet[(int(tail[j])+i*7+j*13+1)%len(alphabet)]
	}
	s := key[:keep] + string(tail)
	if s == key {
		s = key[:keep] + "zzzzzz"
	}
	return s
}
