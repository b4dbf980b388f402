package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
)

// volatileHeaderName is a header whose value legitimately changes from
// one request to the next (clock, rate-limit counters, length of a body
// that is compared on its own).
func volatileHeaderName(name string) bool {
	n := http.CanonicalHeaderKey(name)
	return n == "Date" || strings.HasPrefix(n, "X-Ratelimit-") || n == "Retry-After" || n == "Content-Length" ||
		n == "Ratelimit" || n == "Ratelimit-Policy"
}

// AnswerDiff explains how answer b differs from answer a ("" when they
// are the same), for the "indistinguishable answers" SHOULDs (CWE-204).
// a2 is a second answer to a request of a's kind (may be nil): a header
// value or a top-level JSON body field that differs between a and a2 is
// per-request data (a request ID, a timestamp) and is not compared, so
// that a correct implementation that stamps every answer with a fresh
// request ID is not reported as an oracle. Header names are compared,
// values of Date, Content-Length and rate-limit headers are not.
func AnswerDiff(a, a2, b *Resp) string {
	var diffs []string
	if a.Status != b.Status {
		diffs = append(diffs, fmt.Sprintf("status %d vs %d", a.Status, b.Status))
	}
	diffs = append(diffs, bodyDiffs(a, a2, b)...)
	names := map[string]bool{}
	for k := range a.Header {
		names[k] = true
	}
	for k := range b.Header {
		names[k] = true
	}
	sorted := make([]string, 0, len(names))
	for k := range names {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		va, oka := a.Header[k]
		vb, okb := b.Header[k]
		volatile := volatileHeaderName(k)
		if a2 != nil && strings.Join(a2.Header[k], "\n") != strings.Join(va, "\n") {
			volatile = true
		}
		switch {
		case oka != okb:
			diffs = append(diffs, fmt.Sprintf("header %s present in only one response", k))
		case !volatile && strings.Join(va, "\n") != strings.Join(vb, "\n"):
			diffs = append(diffs, fmt.Sprintf("header %s: %q vs %q", k, strings.Join(va, ", "), strings.Join(vb, ", ")))
		}
	}
	return strings.Join(diffs, "; ")
}

func bodyDiffs(a, a2, b *Resp) []string {
	if bytes.Equal(a.Body, b.Body) {
		return nil
	}
	var ma, mb, m2 map[string]any
	okA := json.Unmarshal(a.Body, &ma) == nil && ma != nil
	okB := json.Unmarshal(b.Body, &mb) == nil && mb != nil
	ok2 := a2 != nil && json.Unmarshal(a2.Body, &m2) == nil && m2 != nil
	if !okA || !okB {
		if a2 != nil && !bytes.Equal(a.Body, a2.Body) {
			return nil // the body changes per request anyway
		}
		return []string{fmt.Sprintf("body %q vs %q", printableBody(a.Body), printableBody(b.Body))}
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		va, inA := ma[k]
		vb, inB := mb[k]
		if inA != inB {
			out = append(out, fmt.Sprintf("body field %q present in only one response", k))
			continue
		}
		if ok2 {
			if v2, in2 := m2[k]; in2 && !reflect.DeepEqual(va, v2) {
				continue // per-request value
			}
		}
		if !reflect.DeepEqual(va, vb) {
			out = append(out, fmt.Sprintf("body field %q: %s vs %s", k, printableBody(mustJSON(va)), printableBody(mustJSON(vb))))
		}
	}
	sort.Strings(out)
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func printableBody(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// AnswerBodyDiff is AnswerDiff for the bodies alone ("" when the same).
func AnswerBodyDiff(a, a2, b *Resp) string {
	return strings.Join(bodyDiffs(a, a2, b), "; ")
}
