// Package ratelimit is the reference's fixed-window rate limiter: one
// budget per key (an API key, a device key or a user), exact under
// concurrency (the count is checked and incremented under one lock, so it
// never over-admits), with an injected clock.
//
// Windows are aligned to multiples of the window length since the Unix
// epoch, so Reset is the same for every request of a window.
package ratelimit

import (
	"runtime"
	"sync"
	"time"
)

// Defects a Limiter can be built with (the reference's fault flags). The
// zero value is correct behaviour.
type Defects struct {
	// Racy reads the count, yields, then writes it back: a genuine
	// check-then-act race that over-admits under parallel load.
	Racy bool
	// NeverReset keeps the count of the first window forever.
	NeverReset bool
	// Global blocks every key until the end of the window as soon as any
	// key is exhausted.
	Global bool
}

// RacyWindow is the pause between read and write under Defects.Racy (a
// slow store round trip), wide enough that parallel requests over real
// connections overlap.
const RacyWindow = 20 * time.Millisecond

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int       // never below 0
	Reset     time.Time // end of the current window
}

// RetryAfter is the whole number of seconds (at least 1) until Reset.
func (d Decision) RetryAfter(now time.Time) int {
	s := int((d.Reset.Sub(now) + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// ResetUnix is Reset in whole Unix seconds, rounded up so that a client
// waiting until then is in the next window.
func (d Decision) ResetUnix() int64 {
	u := d.Reset.Unix()
	if d.Reset.Nanosecond() > 0 {
		u++
	}
	return u
}

type bucket struct {
	start time.Time
	count int
}

// Limiter counts requests per key in fixed windows.
type Limiter struct {
	now     func() time.Time
	defects Defects

	mu            sync.Mutex
	buckets       map[string]*bucket
	globalBlocked time.Time
	sweepAt       time.Time
}

// New returns a Limiter using clock now (nil: time.Now).
func New(now func() time.Time, d Defects) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, defects: d, buckets: map[string]*bucket{}}
}

func windowStart(t time.Time, w time.Duration) time.Time {
	if w <= 0 {
		w = time.Second
	}
	return time.Unix(0, t.UnixNano()-t.UnixNano()%int64(w))
}

// Allow spends one request of key's budget (limit per window).
func (l *Limiter) Allow(key string, limit int, window time.Duration) Decision {
	if window <= 0 {
		window = time.Second
	}
	now := l.now()
	start := windowStart(now, window)
	l.mu.Lock()
	l.sweep(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{start: start}
		l.buckets[key] = b
	}
	if !l.defects.NeverReset && !b.start.Equal(start) {
		b.start, b.count = start, 0
	}
	reset := start.Add(window)
	if l.defects.Global && now.Before(l.globalBlocked) {
		l.mu.Unlock()
		return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: l.globalBlocked}
	}
	if l.defects.Racy {
		count := b.count
		l.mu.Unlock()
		// Check-then-act with a yield in between: other requests read the
		// same count before this one writes it back.
		runtime.Gosched()
		time.Sleep(RacyWindow)
		if count >= limit {
			return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: reset}
		}
		l.mu.Lock()
		b.count = count + 1
		l.mu.Unlock()
		return Decision{Allowed: true, Limit: limit, Remaining: max(limit-count-1, 0), Reset: reset}
	}
	defer l.mu.Unlock()
	if b.count >= limit {
		if l.defects.Global {
			l.globalBlocked = reset
		}
		return Decision{Allowed: false, Limit: limit, Remaining: 0, Reset: reset}
	}
	b.count++
	return Decision{Allowed: true, Limit: limit, Remaining: limit - b.count, Reset: reset}
}

// sweep drops buckets of past windows once per window so that memory stays
// bounded by the number of keys active in the current window. Caller holds mu.
func (l *Limiter) sweep(now time.Time) {
	if l.defects.NeverReset || now.Before(l.sweepAt) {
		return
	}
	l.sweepAt = now.Add(time.Minute)
	for k, b := range l.buckets {
		if now.Sub(b.start) > 10*time.Minute {
			delete(l.buckets, k)
		}
	}
}
