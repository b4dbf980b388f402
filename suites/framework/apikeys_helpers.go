package framework

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	"github.com/authconform/authconform/spec"
)

// KeyMgmt is where the suite manages keys on a target: the target file's
// keyAPI when given (Declared), else the reference's paths from
// spec.Profile.Keys. Paths are relative to the profile's base path; the
// revoke path contains "{id}". List may be zero (no listing).
type KeyMgmt struct {
	Create, List, Revoke spec.Endpoint
	// Declared: the endpoints come from the target file's keyAPI, so a
	// 404/405 there means the file is wrong (error); otherwise they are
	// the reference's (ref-defined) paths and a 404/405 means the target
	// does not have them (not-applicable).
	Declared bool
}

// KeyMgmt returns the key-management endpoints for the context's target.
func (c *Ctx) KeyMgmt() KeyMgmt {
	if k := c.Target().KeyAPI; k != nil {
		return KeyMgmt{Create: k.Create, List: k.List, Revoke: k.Revoke, Declared: true}
	}
	var m KeyMgmt
	k := c.Profile.Keys
	if k == nil {
		return m
	}
	if k.Create != "" {
		m.Create = spec.Endpoint{Method: http.MethodPost, Path: k.Create}
	}
	if k.List != "" {
		m.List = spec.Endpoint{Method: http.MethodGet, Path: k.List}
	}
	if k.Delete != "" {
		m.Revoke = spec.Endpoint{Method: http.MethodDelete, Path: k.Delete + "/{id}"}
	}
	return m
}

// RevokePath is the revoke path with {id} replaced ("" without an
// endpoint or id).
func (k KeyMgmt) RevokePath(id string) string {
	if k.Revoke.IsZero() || id == "" {
		return ""
	}
	return strings.ReplaceAll(k.Revoke.Path, "{id}", url.PathEscape(id))
}

// NewKeyIn finds a newly created key in a creation response: a string
// value (of the object, or of an object nested in it) that starts with
// prefix and is longer than it; the value of field prefer wins, else the
// longest. id is the object's top-level "id" (a string or number). field
// is where the key was found.
func NewKeyIn(body []byte, prefix, prefer string) (secret, id, field string) {
	var m map[string]any
	if prefix == "" || json.Unmarshal(body, &m) != nil {
		return "", "", ""
	}
	type hit struct{ field, val string }
	var hits []hit
	var walk func(path string, v any, depth int)
	walk = func(path string, v any, depth int) {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, prefix) && len(x) > len(prefix) {
				hits = append(hits, hit{path, x})
			}
		case map[string]any:
			if depth > 3 {
				return
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x[k], depth+1)
			}
		}
	}
	walk("", m, 0)
	for _, h := range hits {
		if h.field == prefer {
			secret, field = h.val, h.field
		}
	}
	if secret == "" {
		for _, h := range hits {
			if len(h.val) > len(secret) {
				secret, field = h.val, h.field
			}
		}
	}
	switch v := m["id"].(type) {
	case string:
		id = v
	case float64:
		id = strconv.FormatFloat(v, 'f', -1, 64)
	}
	return secret, id, field
}

// DoRevealing is Do for a response that may reveal a credential under a
// field the framework does not know (a target's own key-creation shape):
// reveal returns the credentials found in the body; they are masked in
// this exchange and in every later one.
func (cl *Client) DoRevealing(r Req, reveal func(body []byte) []string) *Resp {
	resp, err := cl.Try(context.Background(), r)
	if err != nil {
		Fail(markError+err.Error(), 1)
	}
	if s := reveal(resp.Body); len(s) > 0 {
		cl.AddSecret(s...)
		resp.Exchange = cl.mask(resp.Exchange)
		// A body longer than the transcript shows is cut: mask a secret's
		// head left at the cut too.
		for _, sec := range s {
			for l := len(sec) - 1; l >= 8; l-- {
				if head := sec[:l] + "…("; strings.Contains(resp.Exchange, head) {
					resp.Exchange = strings.ReplaceAll(resp.Exchange, head, sec[:min(6, l/3)]+"…(masked)…(")
					break
				}
			}
		}
	}
	AddReportEntry(entryExchange, resp.Exchange, ReportEntryVisibilityNever)
	return resp
}
