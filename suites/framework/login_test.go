package framework

import (
	"testing"

	"github.com/authconform/authconform/spec"
)

// TestLoginCache: one login per principal, the token masked in every
// client that asks for it.
func TestLoginCache(t *testing.T) {
	var lc LoginCache
	logins := 0
	login := func(tok string) func() string {
		return func() string { logins++; return tok }
	}
	p := spec.MustGet(spec.Iotistica)
	admin, member := spec.Principal{Email: "admin@example.com"}, spec.Principal{Email: "member@example.com"}
	cl1, cl2 := &Client{Profile: p}, &Client{Profile: p}
	if got := lc.Token(cl1, admin, login("tok-admin-0123456789")); got != "tok-admin-0123456789" {
		t.Fatalf("first Token = %q", got)
	}
	if got := lc.Token(cl2, admin, login("tok-other-0123456789")); got != "tok-admin-0123456789" {
		t.Errorf("cached Token = %q, want the first login's", got)
	}
	if got := lc.Token(cl2, member, login("tok-member-0123456789")); got != "tok-member-0123456789" {
		t.Errorf("member's Token = %q", got)
	}
	if logins != 2 {
		t.Errorf("%d logins, want one per principal", logins)
	}
	if m := cl2.mask("tok-admin-0123456789 tok-member-0123456789"); m != "tok-ad…(masked) tok-me…(masked)" {
		t.Errorf("masked: %q", m)
	}
}
