package authconformtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/authconform/authconform/spec"
)

func TestSplitRegexp(t *testing.T) {
	for pat, want := range map[string][]string{
		"TestX":                      {"TestX"},
		"TestX/roboticks/JWT-003":    {"TestX", "roboticks", "JWT-003"},
		"TestX/(a/b)/[/]":            {"TestX", "(a/b)", "[/]"},
		`TestX/a\/b`:                 {"TestX", `a\/b`},
		"Conformance//JWT-00[34]$":   {"Conformance", "", "JWT-00[34]$"},
		"Conformance/rigbox|robo/AU": {"Conformance", "rigbox|robo", "AU"},
	} {
		if got := splitRegexp(pat); !reflect.DeepEqual(got, want) {
			t.Errorf("splitRegexp(%q) = %q, want %q", pat, got, want)
		}
	}
}

func TestSelectIDs(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		p         spec.ProfileName
		ids       []string
		ok        bool
	}{
		{"TestConformance", "TestConformance", spec.Roboticks, nil, true},
		{"Conformance/roboticks", "TestConformance", spec.Roboticks, nil, true},
		{"Conformance/rigbox", "TestConformance", spec.Roboticks, nil, false},
		{"Conformance/roboticks/JWT-003", "TestConformance", spec.Roboticks, []string{"JWT-003"}, true},
		{"Conformance//JWT-00[23]$", "TestConformance", spec.Roboticks, []string{"JWT-002", "JWT-003"}, true},
		{"Conformance/roboticks/NOPE-1", "TestConformance", spec.Roboticks, nil, false},
		{"Conformance/roboticks/.", "TestConformance", spec.Roboticks, nil, true},
		// Run called inside a subtest: one level deeper.
		{"TestX/sub/rigbox/AUTH-001$", "TestX/sub", spec.Rigbox, []string{"AUTH-001"}, true},
	} {
		ids, ok := selectIDs(tc.pat, tc.name, tc.p)
		if ok != tc.ok || !reflect.DeepEqual(ids, tc.ids) {
			t.Errorf("selectIDs(%q, %q, %s) = %q, %v; want %q, %v", tc.pat, tc.name, tc.p, ids, ok, tc.ids, tc.ok)
		}
	}
	if got, want := selectionFilter("", []string{"JWT-002", "JWT-003"}), "(!needs:timing) && (JWT-002 || JWT-003)"; got != want {
		t.Errorf("selectionFilter = %q, want %q", got, want)
	}
}

// TestControlEndpoint: only the bearer token opens it; a deployment is
// served with the fixtures and the control fields its variables set, and
// stops on request.
func TestControlEndpoint(t *testing.T) {
	var s servers
	defer s.closeAll()
	fix := &spec.Target{Profile: spec.Roboticks, BaseURL: "http://127.0.0.1:1", Control: spec.Control{JWTSecret: "old-secret-old-secret-old-secret"}}
	var gotVars map[string]string
	c := &control{token: "tok", fixtures: fix, servers: &s, deploy: func(v map[string]string) (http.Handler, error) {
		gotVars = v
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }), nil
	}}
	do := func(method, path, auth, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	for _, auth := range []string{"", "Bearer", "Bearer tok2", "Basic tok", "bearer tok"} {
		if w := do("POST", "/deploy", auth, `{"vars":{}}`); w.Code != http.StatusUnauthorized || gotVars != nil {
			t.Errorf("Authorization %q: %d (deploy called: %v), want 401 and no deploy", auth, w.Code, gotVars != nil)
		}
	}
	if w := do("GET", "/deploy", "Bearer tok", ""); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	if w := do("POST", "/deploy", "Bearer tok", `{`); w.Code != http.StatusBadRequest {
		t.Errorf("bad body: %d, want 400", w.Code)
	}
	w := do("POST", "/deploy", "Bearer tok", `{"vars":{"JWT_SECRET":"new-secret-new-secret-new-secret"}}`)
	if w.Code != http.StatusOK {
		t.Fatalf("deploy: %d %s", w.Code, w.Body)
	}
	if gotVars["JWT_SECRET"] != "new-secret-new-secret-new-secret" {
		t.Errorf("Deploy got %v", gotVars)
	}
	var resp deployResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	// The child parses it with spec.ParseTarget (YAML, a superset of JSON).
	var dt struct {
		BaseURL string       `json:"baseURL"`
		Control spec.Control `json:"control"`
	}
	if err := json.Unmarshal(resp.Target, &dt); err != nil {
		t.Fatal(err)
	}
	if dt.Control.JWTSecret != "new-secret-new-secret-new-secret" || dt.BaseURL == fix.BaseURL || !strings.HasPrefix(dt.BaseURL, "http://127.0.0.1:") {
		t.Errorf("deployed target: control %+v, baseURL %s", dt.Control, dt.BaseURL)
	}
	if fix.Control.JWTSecret != "old-secret-old-secret-old-secret" {
		t.Error("deploy changed the parent's fixtures")
	}
	r, err := http.Get(dt.BaseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusTeapot {
		t.Errorf("deployed handler answered %d, want 418", r.StatusCode)
	}
	if w := do("POST", "/stop", "Bearer tok", `{"id":"`+resp.ID+`"}`); w.Code != http.StatusNoContent {
		t.Errorf("stop: %d", w.Code)
	}
	if w := do("POST", "/stop", "Bearer tok", `{"id":"`+resp.ID+`"}`); w.Code != http.StatusNotFound {
		t.Errorf("second stop: %d, want 404", w.Code)
	}
	if _, err := http.Get(dt.BaseURL + "/"); err == nil {
		t.Error("the stopped deployment still answers")
	}
	c.deploy = func(map[string]string) (http.Handler, error) { panic("boom") }
	if w := do("POST", "/deploy", "Bearer tok", `{"vars":{}}`); w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "panicked: boom") {
		t.Errorf("panicking Deploy: %d %s", w.Code, w.Body)
	}
}
