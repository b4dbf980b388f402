package ratelimit

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// obs is one response of the rate-limited key with its rate-limit headers
// read.
type obs struct {
	resp *framework.Resp
	sent time.Time // when the request was sent
	at   time.Time // when the response arrived
	// hasHeaders is true when all three X-RateLimit-* headers are present
	// and integral; the values below are valid only then.
	hasHeaders              bool
	limit, remaining, reset int64
	// epoch is true when Reset is a Unix time in seconds not in the past
	// (seed 000's format, the reference's for every profile). The other
	// profiles' headers are ref-defined and may give Reset as a delay
	// (RATE-009 classifies it): such a Reset cannot identify a window, so
	// the specs then find windows as for a target without headers.
	epoch bool
}

// windowed reports whether o's Reset identifies its window.
func (o obs) windowed() bool { return o.hasHeaders && o.epoch }

// isEpoch reports whether reset, seen at at, reads as a Unix time in
// seconds not in the past (and not milliseconds).
func isEpoch(reset int64, at time.Time) bool {
	now := at.Unix()
	return reset >= now-1 && reset < now+366*24*3600
}

func (o obs) ok() bool             { return o.resp.Status >= 200 && o.resp.Status < 300 }
func (o obs) limited() bool        { return o.resp.Status == http.StatusTooManyRequests }
func (o obs) resetTime() time.Time { return time.Unix(o.reset, 0) }

// keyed sends requests with the target's rate-limited key to a resource
// that key may read.
type keyed struct {
	c      *framework.Ctx
	cl     *framework.Client
	req    framework.Req
	limit  int
	window time.Duration
	// missing says why the key cannot be used ("" when it can).
	missing string
	// led counts what the suite itself spent of the key's current window;
	// it outlives the spec (one per profile).
	led *ledger
	// ownsLimit is set by the specs whose own property is that the key's
	// limit is enforced (RATE-003): more than limit requests admitted in
	// a row fail them; every other spec is error then (it cannot exhaust
	// the key). ownsRecovery likewise for the window coming back
	// (RATE-006).
	ownsLimit, ownsRecovery bool
}

// verdict ends the spec: failed when the spec owns the property (own),
// else error (a precondition another check owns is missing).
func verdict(own bool, format string, a ...any) {
	GinkgoHelper()
	if own {
		Fail(fmt.Sprintf(format, a...))
	}
	framework.Inconclusive(format, a...)
}

// ledger counts the requests of the rate-limited key that the suite saw
// admitted in the current window (identified by X-RateLimit-Reset). It
// lets a spec use the rest of a window another spec opened without
// trusting X-RateLimit-Remaining. The suite is the key's only user.
type ledger struct {
	mu       sync.Mutex
	reset    int64
	admitted int
	// ever is true once the suite saw the key admitted at all (it is a
	// valid key with a budget: the positive control of RATE-006).
	ever bool
	// window is the key's window length; admittedAt holds the arrival
	// times of the key's admitted requests of the last three windows
	// (RATE-010 counts them per window length).
	window     time.Duration
	admittedAt []time.Time
	// refill is the last refill the suite observed (awaitRefill): RATE-009
	// and RATE-010 read the one RATE-006 waits for instead of waiting for
	// another window.
	refill *refill
	// lastOK is the key's last admitted response.
	lastOK obs
}

func (l *ledger) note(o obs) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ever = l.ever || o.ok()
	if o.ok() {
		l.lastOK = o
		keep := 0
		for _, t := range l.admittedAt {
			if o.at.Sub(t) < 3*l.window {
				l.admittedAt[keep] = t
				keep++
			}
		}
		l.admittedAt = append(l.admittedAt[:keep], o.at)
	}
	if !o.windowed() {
		return
	}
	if o.reset != l.reset {
		l.reset, l.admitted = o.reset, 0
	}
	if o.ok() {
		l.admitted++
	}
}

// spent returns how many requests the suite saw admitted in the window
// ending at reset (0 for another window).
func (l *ledger) spent(reset int64) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.reset != reset {
		return 0
	}
	return l.admitted
}

// admittedTimes returns the arrival times of the key's admitted requests of
// the last three windows, oldest first.
func (l *ledger) admittedTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.admittedAt...)
}

// lastRefill returns the last refill observed in this run, nil if none.
func (l *ledger) lastRefill() *refill {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refill
}

// everAdmitted reports whether the suite saw the key admitted in this run.
func (l *ledger) everAdmitted() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ever
}

// need skips the spec (not-run) when the key cannot be used.
func (k *keyed) need() {
	GinkgoHelper()
	if k.missing != "" {
		framework.SkipNotRun("%s", k.missing)
	}
}

// limitedKey describes how to spend the rate-limited key's budget: the
// protected resource with the user key by the profile's default transport,
// or, for iotistica's device key, its own device-state path. When the
// target does not say which device the key belongs to, k.need skips.
func limitedKey(c *framework.Ctx, cl *framework.Client, led *ledger) *keyed {
	GinkgoHelper()
	rl := c.Target().RateLimited
	k := &keyed{c: c, cl: cl, limit: rl.Limit, window: rl.Window.D(), led: led}
	led.mu.Lock()
	led.window = k.window
	led.mu.Unlock()
	switch {
	case c.Profile.UserKeyPrefix != "" && strings.HasPrefix(rl.APIKey, c.Profile.UserKeyPrefix):
		k.req = framework.Req{Method: http.MethodGet, Path: c.Paths().Protected, Header: cl.UserCred(rl.APIKey)}
	case c.Profile.DeviceKeyPrefix != "" && strings.HasPrefix(rl.APIKey, c.Profile.DeviceKeyPrefix):
		uuid := ""
		for _, d := range c.Target().Devices {
			if d.APIKey == rl.APIKey {
				uuid = d.UUID
			}
		}
		if uuid == "" {
			k.missing = "the rate-limited device key is not listed under devices in the target, so the suite does not know which device-state path it may read"
			return k
		}
		k.req = framework.Req{Method: http.MethodGet, Path: c.DeviceStatePath(uuid), Header: framework.Cred(spec.TransportDeviceKey, rl.APIKey)}
	default:
		k.missing = fmt.Sprintf("the rate-limited key does not carry the %s profile's key prefix", c.Name())
	}
	return k
}

// try sends one request without recording it (polls and races).
func (k *keyed) try(ctx context.Context, cl *framework.Client) (obs, error) {
	sent := time.Now()
	r, err := cl.Try(ctx, k.req)
	if err != nil {
		return obs{}, err
	}
	o := obs{resp: r, sent: sent, at: time.Now()}
	var herr error
	o.limit, o.remaining, o.reset, herr = spec.RateHeaders(r.Header)
	o.hasHeaders = herr == nil
	o.epoch = o.hasHeaders && isEpoch(o.reset, o.at)
	k.led.note(o)
	return o, nil
}

// send sends one request and records it. A transport error or a status
// other than 2xx and 429 ends the spec as error: the key is the control
// of every rate-limit spec, and a 5xx or 401 on it makes the check
// impossible to judge.
func (k *keyed) send(ctx context.Context) obs {
	GinkgoHelper()
	o, err := k.try(ctx, k.cl)
	if err != nil {
		framework.Inconclusive("the rate-limited key's request %s %s got no answer: %v", k.req.Method, k.req.Path, err)
	}
	AddReportEntry("exchange", o.resp.Exchange, ReportEntryVisibilityNever)
	framework.ControlOK(o.ok() || o.limited(), "the rate-limited key on a resource it may read must get 2xx or 429, got %d\n%s", o.resp.Status, o.resp.Exchange)
	return o
}

// waitFor polls cond every poll interval until it is true, ctx ends or
// timeout passes, and reports whether it became true. The caller decides
// whether a timeout is a failure or an error.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// poll is how often the window waits send a request.
const poll = 20 * time.Millisecond

// freshWindow waits for the start of a new window of the key and returns
// the first response of that window, which has spent one request of it.
//
// With rate-limit headers a new window is a response whose Reset lies
// beyond the Reset seen before the wait; without them (a target that sends
// none), it is the first 2xx after the key was driven to 429. Requests sent
// while waiting spend the old window only.
func (k *keyed) freshWindow(ctx context.Context) obs {
	GinkgoHelper()
	first := k.send(ctx)
	timeout := 2*k.window + 5*time.Second
	var fresh obs
	if first.windowed() {
		ok := waitFor(ctx, timeout, func() bool {
			o, err := k.try(ctx, k.cl)
			if err != nil || !o.windowed() || o.reset <= first.reset {
				return false
			}
			fresh = o
			return true
		})
		if !ok {
			verdict(k.ownsRecovery, "waited %s for a response whose %s lies beyond %d (the window of the first request) in vain: the key's window never ended\n%s", timeout, spec.HeaderRateReset, first.reset, first.resp.Exchange)
		}
	} else {
		k.exhaustFrom(ctx, first)
		ok := waitFor(ctx, timeout, func() bool {
			o, err := k.try(ctx, k.cl)
			if err != nil || !o.ok() {
				return false
			}
			fresh = o
			return true
		})
		if !ok {
			verdict(k.ownsRecovery, "waited %s in vain for the exhausted rate-limited key to be admitted again (the target sends no %s header to find the window)", timeout, spec.HeaderRateReset)
		}
	}
	AddReportEntry("exchange", fresh.resp.Exchange, ReportEntryVisibilityNever)
	return fresh
}

// refill is one observed refill of the exhausted key: the refused
// requests while it was exhausted and the first response of its next
// window. The refill happened after the last refused request was sent
// and before the first admitted response arrived.
type refill struct {
	refused []obs // 429s of the exhausted window, oldest first (at least one)
	first   obs   // the first response of the next window (2xx)
	// lastOK is the last admitted response before the 429s (same window:
	// a refill in between would have admitted the first 429); resp is nil
	// when the suite saw none.
	lastOK obs
}

// lo and hi bound the moment of the refill.
func (r *refill) lo() time.Time { return r.refused[len(r.refused)-1].sent }
func (r *refill) hi() time.Time { return r.first.at }

// awaitRefill polls the exhausted key (ex is a 429 of it) until the first
// 2xx of its next window, or a response whose X-RateLimit-Reset lies
// beyond ex's (then returned as next, with ok true, but recorded as a
// refill only when admitted). Requests of the exhausted window get 429 and
// spend nothing. It reports false when the timeout passed first.
func (k *keyed) awaitRefill(ctx context.Context, ex obs, timeout time.Duration) (next obs, ok bool) {
	k.led.mu.Lock()
	rf := &refill{refused: []obs{ex}, lastOK: k.led.lastOK}
	k.led.mu.Unlock()
	ok = waitFor(ctx, timeout, func() bool {
		o, err := k.try(ctx, k.cl)
		if err != nil {
			return false
		}
		if (ex.windowed() && o.windowed() && o.reset > ex.reset) || o.ok() {
			next = o
			return true
		}
		if o.limited() {
			rf.refused = append(rf.refused, o)
		}
		return false
	})
	if ok && next.ok() {
		rf.first = next
		k.led.mu.Lock()
		k.led.refill = rf
		k.led.mu.Unlock()
	}
	return next, ok
}

// observeRefill drives the key to 429 and waits for its next window: the
// refill RATE-009 and RATE-010 read when no earlier spec observed one. A
// window that never ends is error here (RATE-006 owns it).
func (k *keyed) observeRefill(ctx context.Context) *refill {
	GinkgoHelper()
	ex := k.exhaustFrom(ctx, k.send(ctx))
	wait := 2*k.window + 5*time.Second
	next, ok := k.awaitRefill(ctx, ex, wait)
	if !ok || !next.ok() {
		framework.Inconclusive("waited %s in vain for the exhausted rate-limited key to be admitted again (RATE-006 reports that)\n%s", wait, ex.resp.Exchange)
	}
	AddReportEntry("exchange", next.resp.Exchange, ReportEntryVisibilityNever)
	return k.led.lastRefill()
}

// needBudget ends the spec as error when the first request of a new
// window was refused: the key's budget did not come back (RATE-006
// reports that), so the check at hand cannot be measured.
func (k *keyed) needBudget(o obs) {
	GinkgoHelper()
	if o.limited() {
		framework.Inconclusive("the rate-limited key got 429 on the first request of a new window: its budget did not come back (RATE-006 reports that), so this cannot be measured\n%s", o.resp.Exchange)
	}
}

// windowEnd is when the window of o ends: its Reset header, or, without
// headers (or with a Reset that is no Unix time), one window length after
// start.
func (k *keyed) windowEnd(o obs, start time.Time) time.Time {
	if o.windowed() {
		return o.resetTime()
	}
	return start.Add(k.window)
}

// exhaustFrom sends requests until the key gets 429 and returns that
// response. When limit+1 requests in a row are admitted the key's limit
// is not enforced: a failure of the spec that owns that (k.ownsLimit),
// error for the others.
func (k *keyed) exhaustFrom(ctx context.Context, o obs) obs {
	GinkgoHelper()
	for i := 0; !o.limited(); i++ {
		if i > k.limit {
			verdict(k.ownsLimit, "%d requests in a row were admitted, more than the key's limit of %d per %s\n%s", i+1, k.limit, k.window, o.resp.Exchange)
		}
		o = k.send(ctx)
	}
	return o
}

// exhausted drives the key to 429 in a window with at least minLeft of it
// to go, and returns that 429. When the current window is about to end it
// waits for a fresh one first.
func (k *keyed) exhausted(ctx context.Context, minLeft time.Duration) obs {
	GinkgoHelper()
	for attempt := 0; attempt < 3; attempt++ {
		o := k.send(ctx)
		if o.limited() && !o.windowed() {
			// Without a Reset that is a Unix time the window's end is
			// unknown either way; a key refused right now is exhausted,
			// which is all a caller needs (RATE-004 re-checks A after B).
			// Opening a fresh window first would make RATE-003 and
			// RATE-004 depend on RATE-006's recovery.
			return o
		}
		start := time.Now()
		if !o.windowed() || time.Until(k.windowEnd(o, start)) < minLeft+k.window/4 {
			o = k.freshWindow(ctx)
			start = o.at
		}
		o = k.exhaustFrom(ctx, o)
		if time.Until(k.windowEnd(o, start)) >= minLeft {
			return o
		}
	}
	framework.Inconclusive("could not exhaust the rate-limited key with %s of its window left in 3 attempts (the window is too short for this machine)", minLeft)
	return obs{}
}

// otherClients returns n clients for the same target, each with its own
// connection pool and one connection already open (a request without
// credential, which spends no budget), so that a burst runs over n
// separate connections.
func otherClients(ctx context.Context, c *framework.Ctx, base *framework.Client, path string, n int) []*framework.Client {
	GinkgoHelper()
	out := make([]*framework.Client, n)
	for i := range out {
		tr := &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxConnsPerHost:     2,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
		}
		DeferCleanup(tr.CloseIdleConnections)
		nc := framework.NewClient(c.Profile, c.Target())
		nc.HTTP = framework.NewHTTPClient(tr, framework.DefaultTimeout)
		nc.AddSecret(base.Secrets...)
		out[i] = nc
		if _, err := nc.Try(ctx, framework.Req{Method: http.MethodGet, Path: path}); err != nil {
			framework.Inconclusive("warming up connection %d of the burst (a request without credential) got no answer: %v", i, err)
		}
	}
	return out
}
