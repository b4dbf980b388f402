package framework

import "testing"

func TestNewKeyIn(t *testing.T) {
	for _, tc := range []struct {
		body, prefix, prefer string
		secret, id, field    string
	}{
		// The reference's shape: "prefix" holds the bare prefix, never the key.
		{`{"id":"key_1","key":"rbtk_abcdefghijklmnop","name":"x","prefix":"rbtk_"}`, "rbtk_", "key", "rbtk_abcdefghijklmnop", "key_1", "key"},
		// Another field name, found by its prefix; numeric id.
		{`{"id":42,"value":"rb_0123456789abcdefXYZ"}`, "rb_", "key", "rb_0123456789abcdefXYZ", "42", "value"},
		// Nested object; the longest candidate wins without a preferred field.
		{`{"id":"a","data":{"hint":"u-12","token":"u-0123456789abcdef"}}`, "u-", "", "u-0123456789abcdef", "a", "data.token"},
		// No key shown.
		{`{"id":"a","name":"x"}`, "rbtk_", "key", "", "a", ""},
		{`not json`, "rbtk_", "key", "", "", ""},
	} {
		s, id, f := NewKeyIn([]byte(tc.body), tc.prefix, tc.prefer)
		if s != tc.secret || id != tc.id || f != tc.field {
			t.Errorf("NewKeyIn(%s) = %q, %q, %q; want %q, %q, %q", tc.body, s, id, f, tc.secret, tc.id, tc.field)
		}
	}
}

func TestKeyMgmtRevokePath(t *testing.T) {
	k := KeyMgmt{}
	k.Revoke.Method, k.Revoke.Path = "DELETE", "/keys/{id}"
	if got := k.RevokePath("a/b c"); got != "/keys/a%2Fb%20c" {
		t.Errorf("RevokePath = %q", got)
	}
	if got := k.RevokePath(""); got != "" {
		t.Errorf("RevokePath(\"\") = %q, want empty", got)
	}
}
