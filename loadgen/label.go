package loadgen

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Label describes one attack (one process, one shard). In process it is a
// value: Run hands it to the Aggregator (Aggregator.Attack). It is
// serialized (String) only into the Attack field of every result written
// out, so that a results file describes itself, and parsed (ParseLabel)
// only from results read back: `authconform report` recomputes schedule
// slip, expectations and the scenario's analysis from the files alone,
// and merges shards correctly (CheckMerge). It never holds a secret.
type Label struct {
	Scenario string
	Pace     Pace
	Shard    Shard
	Began    time.Time // origin of the pacer's schedule
	// RateLimit and RateWindow are the budget of the rate-limited key
	// (ratelimit scenario only).
	RateLimit  int
	RateWindow time.Duration
	// Profile is the target's profile; BaseURL its base URL (no secret).
	Profile string
	BaseURL string
	// Planned is how many requests this shard planned (Pace.Hits()); the
	// number of results carrying the label is how many were sent, so a
	// file of an interrupted attack says it was cut short. 0: unknown
	// (files of older versions).
	Planned uint64
	// StartAt is the --start-at of a distributed attack (zero: none):
	// shards of one attack share it.
	StartAt time.Time
}

const labelPrefix = "authconform;"

// String encodes the label: authconform;scenario=…;pace=…;shard=i/N;t0=ns;…
func (l Label) String() string {
	var b strings.Builder
	b.WriteString(labelPrefix)
	fmt.Fprintf(&b, "scenario=%s;pace=%s;shard=%s;t0=%d", l.Scenario, l.Pace, l.Shard, l.Began.UnixNano())
	if l.Profile != "" {
		fmt.Fprintf(&b, ";profile=%s", l.Profile)
	}
	if l.RateLimit > 0 {
		fmt.Fprintf(&b, ";limit=%d/%s", l.RateLimit, l.RateWindow)
	}
	if l.Planned > 0 {
		fmt.Fprintf(&b, ";planned=%d", l.Planned)
	}
	if !l.StartAt.IsZero() {
		fmt.Fprintf(&b, ";at=%d", l.StartAt.Unix())
	}
	if l.BaseURL != "" {
		fmt.Fprintf(&b, ";base=%s", url.QueryEscape(l.BaseURL))
	}
	return b.String()
}

// ParseLabel decodes String's output. ok is false for results not written
// by authconform (plain vegeta files): they are reported without slip.
func ParseLabel(s string) (l Label, ok bool) {
	if !strings.HasPrefix(s, labelPrefix) {
		return Label{}, false
	}
	for _, kv := range strings.Split(s[len(labelPrefix):], ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "scenario":
			l.Scenario = v
		case "pace":
			p, err := parsePace(v)
			if err != nil {
				return Label{}, false
			}
			l.Pace = p
		case "shard":
			sh, err := ParseShard(v)
			if err != nil {
				return Label{}, false
			}
			l.Shard = sh
		case "t0":
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return Label{}, false
			}
			l.Began = time.Unix(0, ns)
		case "profile":
			l.Profile = v
		case "base":
			l.BaseURL, _ = url.QueryUnescape(v)
		case "planned":
			l.Planned, _ = strconv.ParseUint(v, 10, 64)
		case "at":
			if sec, err := strconv.ParseInt(v, 10, 64); err == nil {
				l.StartAt = time.Unix(sec, 0)
			}
		case "limit":
			n, w, _ := strings.Cut(v, "/")
			l.RateLimit, _ = strconv.Atoi(n)
			l.RateWindow, _ = time.ParseDuration(w)
		}
	}
	return l, l.Scenario != "" && !l.Began.IsZero()
}
