package spec

import (
	"os"
	"strings"
	"testing"
)

// matrix renders which checks apply to each built-in profile, at which
// level, one line a profile.
func matrix() string {
	var b strings.Builder
	for _, p := range AllProfiles {
		b.WriteString(string(p) + ":")
		for _, c := range ChecksFor(p) {
			b.WriteString(" " + c.ID + "=" + string(c.LevelFor(p)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestCheckProfileMatrix pins the check × profile matrix of the four
// built-in profiles (testdata/matrix.golden): deriving the catalogue's
// applicability from capabilities must not change it. Run with
// AUTHCONFORM_UPDATE_MATRIX=1 to rewrite the golden file after a deliberate
// catalogue change.
func TestCheckProfileMatrix(t *testing.T) {
	got := matrix()
	if os.Getenv("AUTHCONFORM_UPDATE_MATRIX") == "1" {
		if err := os.WriteFile("testdata/matrix.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/matrix.golden")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Fatalf("check × profile matrix changed:\n got:\n%s\nwant:\n%s", got, want)
	}
}
