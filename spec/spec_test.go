package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestCatalogueLoads(t *testing.T) {
	cs := Catalogue()
	// SPEC.md §2 lists 56 checks and its "Catalogue v2" table 12 more
	// (JWT-014..019, MQTT-008..010, RATE-008..010).
	if len(cs) != 68 {
		t.Fatalf("catalogue has %d checks, SPEC.md §2 lists 56 plus 12 in Catalogue v2", len(cs))
	}
	musts := 0
	for _, c := range cs {
		if c.Level == MUST {
			musts++
		}
		if _, ok := Lookup(c.ID); !ok {
			t.Errorf("Lookup(%s) failed", c.ID)
		}
	}
	if musts == 0 {
		t.Fatal("no MUST checks")
	}
	if l := MustLookup(t, "RATE-001").LevelFor(Roboticks); l != MUST {
		t.Errorf("RATE-001 roboticks level %s, want MUST", l)
	}
	if l := MustLookup(t, "RATE-001").LevelFor(Rigbox); l != SHOULD {
		t.Errorf("RATE-001 rigbox level %s, want SHOULD", l)
	}
	// RATE-009 is MUST where the vendor document says what Reset means
	// (roboticks' seed 000: Unix seconds), SHOULD elsewhere.
	for p, want := range map[ProfileName]Level{Roboticks: MUST, Rigbox: SHOULD, RequestRocket: SHOULD, Iotistica: SHOULD} {
		if l := MustLookup(t, "RATE-009").LevelFor(p); l != want {
			t.Errorf("RATE-009 %s level %s, want %s", p, l, want)
		}
	}
}

func MustLookup(t *testing.T, id string) Check {
	c, ok := Lookup(id)
	if !ok {
		t.Fatalf("no check %s", id)
	}
	return c
}

func TestCatalogueRejectsBadEntries(t *testing.T) {
	for name, doc := range map[string]string{
		"bad id":        "checks: [{id: FOO-1, area: jwt, level: MUST, profiles: [all], source: s, title: t}]",
		"bad area":      "checks: [{id: JWT-001, area: x, level: MUST, profiles: [all], source: s, title: t}]",
		"bad level":     "checks: [{id: JWT-001, area: jwt, level: MAY, profiles: [all], source: s, title: t}]",
		"bad profile":   "checks: [{id: JWT-001, area: jwt, level: MUST, profiles: [nope], source: s, title: t}]",
		"duplicate":     "checks: [{id: JWT-001, area: jwt, level: MUST, profiles: [all], source: s, title: t}, {id: JWT-001, area: jwt, level: MUST, profiles: [all], source: s, title: t}]",
		"missing title": "checks: [{id: JWT-001, area: jwt, level: MUST, profiles: [all], source: s}]",
	} {
		if _, err := parseCatalogue([]byte(doc)); !errors.Is(err, ErrCatalogue) {
			t.Errorf("%s: got %v, want ErrCatalogue", name, err)
		}
	}
}

func TestErrorBodyMatch(t *testing.T) {
	p := MustGet(Roboticks)
	tests := []struct {
		name string
		body ErrorBody
		in   string
		ok   bool
	}{
		{"roboticks 401", p.Err401, `{"detail":"Could not validate credentials"}`, true},
		{"wrong text", p.Err401, `{"detail":"Unauthorized"}`, false},
		{"extra field", p.Err401, `{"detail":"Could not validate credentials","x":1}`, false},
		{"not json", p.Err401, `Could not validate credentials`, false},
		{"429", p.Err429, `{"detail":"Rate limit exceeded. Try again in 12 seconds.","retry_after":12}`, true},
		{"429 float", p.Err429, `{"detail":"Rate limit exceeded. Try again in 12 seconds.","retry_after":1.5}`, false},
		{"rr 401", MustGet(RequestRocket).Err401, `{"error":"Unauthorized","message":"Invalid or missing authentication token","status":401}`, true},
		{"rr 401 status string", MustGet(RequestRocket).Err401, `{"error":"Unauthorized","message":"Invalid or missing authentication token","status":"401"}`, false},
		{"rigbox any message", MustGet(Rigbox).Err401, `{"message":"Invalid API key"}`, true},
		{"rigbox empty message", MustGet(Rigbox).Err401, `{"message":""}`, false},
	}
	for _, tt := range tests {
		err := tt.body.Match([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("%s: Match = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestRenderMatchesOwnShape(t *testing.T) {
	for _, n := range AllProfiles {
		p := MustGet(n)
		for _, b := range []ErrorBody{p.Err401Missing, p.Err401, p.Err403} {
			if err := b.Match(mustJSON(t, b.Render("some message", nil))); err != nil {
				t.Errorf("%s: rendered body does not match its own shape: %v", n, err)
			}
		}
		r := p.Err429.Render("Rate limit exceeded. Try again in 3 seconds.", map[string]int{"retry_after": 3})
		if err := p.Err429.Match(mustJSON(t, r)); err != nil {
			t.Errorf("%s 429: %v", n, err)
		}
	}
}

const validRoboticks = `
profile: roboticks
baseURL: http://127.0.0.1:8080
principals:
  admin: {email: user@example.com, password: pw, apiKey: rbtk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}
  member: {email: m@example.com, password: pw, apiKey: rbtk_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}
  outsider: {email: o@example.com, password: pw, apiKey: rbtk_ccccccccccccccccccccccccccccccccccccccccccc}
revokedKey: rbtk_ddddddddddddddddddddddddddddddddddddddddddd
rateLimited: {apiKey: rbtk_eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee, limit: 5, window: 2s}
resources: {org: acme, project: warehouse, restrictedProject: lab, otherOrg: globex}
`

func TestParseTarget(t *testing.T) {
	tg, err := ParseTarget([]byte(validRoboticks))
	if err != nil {
		t.Fatalf("valid target rejected: %v", err)
	}
	if tg.RateLimited.Window.D().Seconds() != 2 {
		t.Errorf("window = %s", tg.RateLimited.Window)
	}
	tests := []struct {
		name, from, to, field string
	}{
		{"unknown field", "revokedKey:", "revokedKee:", "revokedKee"},
		{"bad profile", "profile: roboticks", "profile: robotics", "profile"},
		{"bad url", "http://127.0.0.1:8080", "127.0.0.1:8080", "baseURL"},
		{"url with path", "http://127.0.0.1:8080", "http://127.0.0.1:8080/api/v1", "baseURL"},
		{"wrong prefix", "admin: {email: user@example.com, password: pw, apiKey: rbtk_", "admin: {email: user@example.com, password: pw, apiKey: rb_", "principals.admin.apiKey"},
		{"missing password", "member: {email: m@example.com, password: pw,", "member: {email: m@example.com,", "principals.member.password"},
		{"bad window", "window: 2s", "window: fast", "rateLimited.window"},
		{"zero limit", "limit: 5", "limit: 0", "rateLimited.limit"},
		{"limit not a number", "limit: 5", "limit: five", "rateLimited.limit"},
		{"missing org", "org: acme, ", "", "resources.org"},
	}
	for _, tt := range tests {
		doc := strings.Replace(validRoboticks, tt.from, tt.to, 1)
		if doc == validRoboticks {
			t.Fatalf("%s: replacement did not apply", tt.name)
		}
		_, err := ParseTarget([]byte(doc))
		if !errors.Is(err, ErrTarget) {
			t.Errorf("%s: got %v, want a target error", tt.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %q should name %q on one line", tt.name, err, tt.field)
		}
	}
}

func TestMask(t *testing.T) {
	secret := "rbtk_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	got := Mask("sent Authorization: Bearer "+secret, []string{secret})
	if strings.Contains(got, secret) || !strings.Contains(got, "masked") {
		t.Errorf("Mask left the secret: %q", got)
	}
}
