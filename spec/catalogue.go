package spec

import (
	_ "embed"
	"fmt"
	"regexp"
	"sort"

	"gopkg.in/yaml.v3"
)

// Level is how much a check's failure counts.
type Level string

const (
	MUST   Level = "MUST"   // a failure makes the run non-conformant
	SHOULD Level = "SHOULD" // reported and scored; fails the run only with --strict
	INFO   Level = "INFO"   // observed and reported only
)

// Need is something a check requires of its environment.
type Need string

const (
	NeedMQTT       Need = "mqtt"        // a broker wired to the target
	NeedDeployment Need = "deployment"  // the suite chooses the target's JWT keys, license, ...
	NeedSigningKey Need = "signing-key" // the suite can sign tokens the target accepts: control.jwtSecret / jwtPrivateKey, or a deployment
	NeedTiming     Need = "timing"      // a long statistical timing run; out of the default run
	NeedLogin      Need = "login"       // the profile has a login endpoint
	NeedKeys       Need = "keys"        // the profile has a key-creation endpoint
)

// Check is one entry of the catalogue.
type Check struct {
	ID    string `yaml:"id"`
	Area  string `yaml:"area"`
	Level Level  `yaml:"level"`
	// LevelIf overrides Level for the profiles with the capability (at
	// most one entry).
	LevelIf map[Capability]Level `yaml:"levelIf"`
	// Profiles is [all]: a check never names profiles; Requires says which
	// ones it applies to.
	Profiles []string `yaml:"profiles"`
	// Requires lists the capabilities a profile must have (Profile.Can)
	// for the check to apply.
	Requires []Capability `yaml:"requires"`
	Source   string       `yaml:"source"`
	Title    string       `yaml:"title"`
	Should   string       `yaml:"should"`
	Needs    []Need       `yaml:"needs"`
}

// LevelFor returns the check's level in profile p.
func (c Check) LevelFor(p ProfileName) Level {
	if pr, err := Get(p); err == nil {
		return c.LevelIn(pr)
	}
	return c.Level
}

// LevelIn returns the check's level in profile p.
func (c Check) LevelIn(p *Profile) Level {
	for cap, l := range c.LevelIf {
		if p.Can(cap) {
			return l
		}
	}
	return c.Level
}

// AppliesTo reports whether the check applies to profile p (false for an
// unknown profile).
func (c Check) AppliesTo(p ProfileName) bool {
	pr, err := Get(p)
	return err == nil && c.AppliesIn(pr)
}

// AppliesIn reports whether the check applies to profile p: p has every
// capability the check requires.
func (c Check) AppliesIn(p *Profile) bool { return p.CanAll(c.Requires) }

// Needs reports whether the check needs n.
func (c Check) NeedsAny(ns ...Need) bool {
	for _, have := range c.Needs {
		for _, n := range ns {
			if have == n {
				return true
			}
		}
	}
	return false
}

//go:embed catalogue.yaml
var catalogueYAML []byte

// Areas in catalogue order.
var Areas = []string{"transport", "apikeys", "jwt", "ratelimit", "tenancy", "provisioning", "mqtt", "license"}

var (
	catalogue []Check
	byID      map[string]Check
	idPattern = regexp.MustCompile(`^(AUTH|KEY|JWT|RATE|TEN|PROV|MQTT|LIC)-[0-9]{3}$`)
)

func init() {
	cs, err := parseCatalogue(catalogueYAML)
	if err != nil {
		panic(err) // the embedded file is checked by catalogue_test.go
	}
	catalogue = cs
	byID = make(map[string]Check, len(cs))
	for _, c := range cs {
		byID[c.ID] = c
	}
}

func parseCatalogue(b []byte) ([]Check, error) {
	var doc struct {
		Checks []Check `yaml:"checks"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCatalogue, err)
	}
	seen := map[string]bool{}
	areas := map[string]bool{}
	for _, a := range Areas {
		areas[a] = true
	}
	for _, c := range doc.Checks {
		switch {
		case !idPattern.MatchString(c.ID):
			return nil, fmt.Errorf("%w: bad id %q", ErrCatalogue, c.ID)
		case seen[c.ID]:
			return nil, fmt.Errorf("%w: duplicate id %s", ErrCatalogue, c.ID)
		case !areas[c.Area]:
			return nil, fmt.Errorf("%w: %s: unknown area %q", ErrCatalogue, c.ID, c.Area)
		case c.Level != MUST && c.Level != SHOULD && c.Level != INFO:
			return nil, fmt.Errorf("%w: %s: bad level %q", ErrCatalogue, c.ID, c.Level)
		case len(c.Profiles) == 0 || c.Title == "" || c.Source == "":
			return nil, fmt.Errorf("%w: %s: profiles, title and source are required", ErrCatalogue, c.ID)
		}
		if len(c.Profiles) != 1 || c.Profiles[0] != "all" {
			return nil, fmt.Errorf("%w: %s: profiles: %v: checks do not name profiles; write profiles: [all] and requires: [capability...] (see docs/PROFILES.md)", ErrCatalogue, c.ID, c.Profiles)
		}
		for _, r := range c.Requires {
			if !KnownCapability(r) {
				return nil, fmt.Errorf("%w: %s: requires: unknown capability %q", ErrCatalogue, c.ID, r)
			}
		}
		if len(c.LevelIf) > 1 {
			return nil, fmt.Errorf("%w: %s: levelIf: give at most one capability", ErrCatalogue, c.ID)
		}
		for cap, l := range c.LevelIf {
			if !KnownCapability(cap) {
				return nil, fmt.Errorf("%w: %s: levelIf: unknown capability %q", ErrCatalogue, c.ID, cap)
			}
			if l != MUST && l != SHOULD && l != INFO {
				return nil, fmt.Errorf("%w: %s: levelIf: bad level %q", ErrCatalogue, c.ID, l)
			}
		}
		seen[c.ID] = true
	}
	return doc.Checks, nil
}

// Catalogue returns every check in catalogue order (a copy).
func Catalogue() []Check { return append([]Check(nil), catalogue...) }

// Lookup returns the check with id.
func Lookup(id string) (Check, bool) { c, ok := byID[id]; return c, ok }

// IDs returns every check ID, sorted.
func IDs() []string {
	out := make([]string, 0, len(catalogue))
	for _, c := range catalogue {
		out = append(out, c.ID)
	}
	sort.Strings(out)
	return out
}

// ChecksFor returns the checks that apply to profile p, in catalogue order
// (none for an unknown profile).
func ChecksFor(p ProfileName) []Check {
	pr, err := Get(p)
	if err != nil {
		return nil
	}
	var out []Check
	for _, c := range catalogue {
		if c.AppliesIn(pr) {
			out = append(out, c)
		}
	}
	return out
}
