package spec

import (
	"strings"
	"testing"
)

// TestRateLimitResetField: rateLimitReset is data (roboticks' seed 000
// says Unix seconds), it derives resetDocumented, and a bad value is a
// one-line error naming the field.
func TestRateLimitResetField(t *testing.T) {
	for _, n := range AllProfiles {
		p, err := Get(n)
		if err != nil {
			t.Fatal(err)
		}
		want := ResetFormat("")
		if n == Roboticks {
			want = ResetEpoch
		}
		if p.RateLimitReset != want || p.Can(CapResetDocumented) != (want != "") {
			t.Errorf("%s: rateLimitReset %q (resetDocumented %v), want %q", n, p.RateLimitReset, p.Can(CapResetDocumented), want)
		}
	}
	b, err := builtinProfiles.ReadFile("profiles/roboticks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(b), "name: roboticks", "name: robolike", 1)
	for _, v := range ResetFormats {
		if _, err := ParseProfile([]byte(strings.Replace(doc, "rateLimitReset: epoch", "rateLimitReset: "+string(v), 1))); err != nil {
			t.Errorf("rateLimitReset %s: %v", v, err)
		}
	}
	_, err = ParseProfile([]byte(strings.Replace(doc, "rateLimitReset: epoch", "rateLimitReset: unix-ms", 1)))
	if err == nil || !strings.Contains(err.Error(), "rateLimitReset") || strings.Contains(err.Error(), "\n") {
		t.Errorf("rateLimitReset unix-ms: got %v, want a one-line error naming rateLimitReset", err)
	}
}
