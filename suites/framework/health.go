package framework

import (
	"fmt"
	"sync"
	"time"
)

// A target that stops answering must end the run within a minute, not
// after every remaining spec has waited out its own timeouts (SPEC.md §4,
// "target unresponsive"). Every request the suite's clients send reports
// to the health of its base URL: any HTTP answer resets it; transport
// errors (refused, reset, timed out) count. The target is declared
// unresponsive after UnresponsiveAfter consecutive transport errors spread
// over at least UnresponsiveFor since its last answer. From then on no
// request is sent to it and every remaining spec is not-run.
var (
	UnresponsiveAfter = 3
	UnresponsiveFor   = 15 * time.Second
)

type health struct {
	mu          sync.Mutex
	lastAnswer  time.Time
	consecutive int
	lastErr     error
	why         string
}

var healths sync.Map // base URL -> *health

func healthOf(baseURL string) *health {
	if h, ok := healths.Load(baseURL); ok {
		return h.(*health)
	}
	h, _ := healths.LoadOrStore(baseURL, &health{lastAnswer: time.Now()})
	return h.(*health)
}

func (h *health) success() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.why == "" {
		h.consecutive, h.lastAnswer = 0, time.Now()
	}
}

func (h *health) failure(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.consecutive++
	h.lastErr = err
	if h.why == "" && h.consecutive >= UnresponsiveAfter && time.Since(h.lastAnswer) >= UnresponsiveFor {
		h.why = fmt.Sprintf("target unresponsive: %d consecutive transport errors and no answer for %s (last: %v)",
			h.consecutive, time.Since(h.lastAnswer).Round(time.Second), err)
	}
}

// dead returns why the target was declared unresponsive, or "".
func (h *health) dead() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.why
}

// Unresponsive returns why the target at baseURL was declared
// unresponsive during this process, or "".
func Unresponsive(baseURL string) string { return healthOf(baseURL).dead() }

// resetHealth forgets every target's health (tests, and each run of a
// process that runs the suite more than once).
func resetHealth() { healths.Clear() }
