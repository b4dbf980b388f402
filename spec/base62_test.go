package spec

import (
	"strings"
	"testing"
)

// TestBase62 pins the alphabet (62 distinct ASCII letters and digits, in
// the order the suites' derived keys depend on) and what RandomBase62
// draws from it.
func TestBase62(t *testing.T) {
	if Base62Alphabet != "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" {
		t.Fatalf("Base62Alphabet = %q", Base62Alphabet)
	}
	for _, n := range []int{0, 1, 43, 200} {
		s := RandomBase62(n)
		if len(s) != n {
			t.Errorf("RandomBase62(%d) has length %d", n, len(s))
		}
		for _, r := range s {
			if !strings.ContainsRune(Base62Alphabet, r) {
				t.Errorf("RandomBase62(%d) = %q: %q is not in the alphabet", n, s, r)
			}
		}
	}
	if RandomBase62(32) == RandomBase62(32) {
		t.Error("two draws of 32 characters are equal")
	}
}
