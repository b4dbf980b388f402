package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 500_000_000)} }

func TestFixedWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		limit  int
		window time.Duration
	}{{"10 per 2s", 10, 2 * time.Second}, {"1 per 1s", 1, time.Second}, {"3 per 1m", 3, time.Minute}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			l := New(c.now, Defects{})
			var reset int64
			for i := 1; i <= tc.limit; i++ {
				d := l.Allow("k", tc.limit, tc.window)
				if !d.Allowed || d.Remaining != tc.limit-i || d.Limit != tc.limit {
					t.Fatalf("request %d: %+v", i, d)
				}
				if reset == 0 {
					reset = d.ResetUnix()
				} else if reset != d.ResetUnix() {
					t.Fatal("reset moved")
				}
				if reset <= c.now().Unix() {
					t.Fatal("reset not in the future")
				}
			}
			d := l.Allow("k", tc.limit, tc.window)
			if d.Allowed || d.Remaining != 0 {
				t.Fatalf("over limit: %+v", d)
			}
			ra := d.RetryAfter(c.now())
			if ra < 1 || time.Duration(ra)*time.Second < d.Reset.Sub(c.now()) {
				t.Fatalf("retry after %d, reset in %s", ra, d.Reset.Sub(c.now()))
			}
			if o := l.Allow("other", tc.limit, tc.window); !o.Allowed {
				t.Fatal("other key affected")
			}
			c.t = time.Unix(reset, 0)
			if d := l.Allow("k", tc.limit, tc.window); !d.Allowed || d.Remaining != tc.limit-1 {
				t.Fatalf("after reset: %+v", d)
			}
		})
	}
}

func TestExactUnderConcurrency(t *testing.T) {
	l := New(newClock().now, Defects{})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if l.Allow("k", 10, time.Second).Allowed {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 10 {
		t.Fatalf("admitted %d, want 10", ok.Load())
	}
}

func TestDefects(t *testing.T) {
	c := newClock()
	racy := New(c.now, Defects{Racy: true})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if racy.Allow("k", 10, time.Second).Allowed {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() <= 10 {
		t.Fatalf("racy limiter admitted %d, want over-admission", ok.Load())
	}

	never := New(c.now, Defects{NeverReset: true})
	never.Allow("k", 1, time.Second)
	c.add(time.Hour)
	if never.Allow("k", 1, time.Second).Allowed {
		t.Fatal("never-reset limiter reset")
	}

	global := New(c.now, Defects{Global: true})
	global.Allow("a", 1, time.Second)
	global.Allow("a", 1, time.Second)
	if global.Allow("b", 100, time.Second).Allowed {
		t.Fatal("global limiter let b through")
	}
}

func TestSweepKeepsCurrentBuckets(t *testing.T) {
	c := newClock()
	l := New(c.now, Defects{})
	l.Allow("old", 5, time.Second)
	c.add(20 * time.Minute)
	l.Allow("new", 5, time.Second)
	l.mu.Lock()
	_, old := l.buckets["old"]
	_, nw := l.buckets["new"]
	l.mu.Unlock()
	if old || !nw {
		t.Fatalf("old kept %v, new kept %v", old, nw)
	}
}
