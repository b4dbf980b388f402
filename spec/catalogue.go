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
	ID             string                `yaml:"id"`
	Area           string                `yaml:"area"`
	Level          Level                 `yaml:"level"`
	LevelByProfile map[ProfileName]Level `yaml:"levelByProfile"`
	Profiles       []string              `yaml:"profiles"`
	Source         string                `yaml:"source"`
	Title          string                `yaml:"title"`
	Should         string                `yaml:"should"`
	Needs          []Need                `yaml:"needs"`
}

// LevelFor returns the check's level in profile p.
func (c Check) LevelFor(p ProfileName) Level {
	if l, ok := c.LevelByProfile[p]; ok {
		return l
	}
	return c.Level
}

// AppliesTo reports whether the check applies to profile p.
func (c Check) AppliesTo(p ProfileName) bool {
	for _, x := range c.Profiles {
		if x == "all" || ProfileName(x) == p {
			return true
		}
	}
	return false
}

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
		for _, p := range c.Profiles {
			if p != "all" {
				if _, err := Get(ProfileName(p)); err != nil {
					return nil, fmt.Errorf("%w: %s: %v", ErrCatalogue, c.ID, err)
				}
			}
		}
		for p := range c.LevelByProfile {
			if _, err := Get(p); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrCatalogue, c.ID, err)
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

// ChecksFor returns the checks that apply to profile p, in catalogue order.
func ChecksFor(p ProfileName) []Check {
	var out []Check
	for _, c := range catalogue {
		if c.AppliesTo(p) {
			out = append(out, c)
		}
	}
	return out
}
