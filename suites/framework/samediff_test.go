package framework

import (
	"net/http"
	"testing"
)

func TestAnswerDiff(t *testing.T) {
	resp := func(status int, body string, h ...string) *Resp {
		hd := http.Header{}
		for i := 0; i+1 < len(h); i += 2 {
			hd.Set(h[i], h[i+1])
		}
		return &Resp{Status: status, Header: hd, Body: []byte(body)}
	}
	const detail = `"detail":"Could not validate credentials"`
	for _, tc := range []struct {
		name     string
		a, a2, b *Resp
		differ   bool
	}{
		{"identical", resp(401, `{`+detail+`}`), resp(401, `{`+detail+`}`), resp(401, `{`+detail+`}`), false},
		{"per-request id in body and header",
			resp(401, `{`+detail+`,"request_id":"1"}`, "X-Request-Id", "1"),
			resp(401, `{`+detail+`,"request_id":"2"}`, "X-Request-Id", "2"),
			resp(401, `{`+detail+`,"request_id":"3"}`, "X-Request-Id", "3"), false},
		{"stable field differs (an oracle)",
			resp(401, `{`+detail+`,"request_id":"1"}`),
			resp(401, `{`+detail+`,"request_id":"2"}`),
			resp(401, `{"detail":"Key revoked","request_id":"3"}`), true},
		{"field only in one", resp(401, `{`+detail+`}`), resp(401, `{`+detail+`}`), resp(401, `{`+detail+`,"reason":"revoked"}`), true},
		{"header only in one", resp(401, `{}`), resp(401, `{}`), resp(401, `{}`, "X-Key-State", "revoked"), true},
		{"status", resp(401, `{}`), nil, resp(403, `{}`), true},
		{"no second sample: ids differ", resp(401, `{"request_id":"1"}`), nil, resp(401, `{"request_id":"2"}`), true},
		{"non-JSON bodies", resp(401, `nope`), resp(401, `nope`), resp(401, `other`), true},
	} {
		got := AnswerDiff(tc.a, tc.a2, tc.b)
		if (got != "") != tc.differ {
			t.Errorf("%s: AnswerDiff = %q, want differ=%v", tc.name, got, tc.differ)
		}
	}
}
