package framework

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/authconform/authconform/spec"
)

// Expectation waives one known failure (an expectations file, after
// OpenID conformance's expected-failures file and WPT's expectation files):
// a listed check that fails or is error is reported as an expected failure
// and does not count against the verdict.
type Expectation struct {
	// Profile and Check name the check (a profile name and an ID such as JWT-003).
	Profile string `yaml:"profile" json:"profile"`
	Check   string `yaml:"check" json:"check"`
	// Spec, when set, narrows the waiver: a failing spec's text must
	// contain it (another spec of the check failing is not waived).
	Spec string `yaml:"spec,omitempty" json:"spec,omitempty"`
	// Reason says why the failure is accepted (required: a waiver without
	// a reason is a failure nobody owns).
	Reason string `yaml:"reason" json:"reason"`
	// KnownIntermittent marks a check that sometimes passes: passing is
	// then not reported as "unexpectedly passed".
	KnownIntermittent bool `yaml:"knownIntermittent,omitempty" json:"knownIntermittent,omitempty"`
}

// ExpectationsFile is the document --expect reads and
// --write-expectations writes.
type ExpectationsFile struct {
	Expectations []Expectation `yaml:"expectations"`
}

// LoadExpectations reads and validates an expectations file. Every error
// is one line naming the file, the field and the fix.
func LoadExpectations(path string) ([]Expectation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("%s: cannot read: %v", path, err)
	}
	return ParseExpectations(path, b)
}

// ParseExpectations decodes an expectations document (YAML or JSON)
// strictly: unknown fields, unknown profiles or check IDs, a missing
// reason and duplicate entries are errors.
func ParseExpectations(name string, b []byte) ([]Expectation, error) {
	var f ExpectationsFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty file; write 'expectations:' with a list of {profile, check, reason} (authconform run --write-expectations FILE writes one)", name)
		}
		return nil, fmt.Errorf("%s: %s; the file holds 'expectations:' with a list of {profile, check, spec, reason, knownIntermittent}", name, strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "yaml: ")), " "))
	}
	seen := map[string]bool{}
	for i, e := range f.Expectations {
		at := fmt.Sprintf("%s: expectations[%d]", name, i)
		if e.Profile == "" {
			return nil, fmt.Errorf("%s.profile: missing; name the profile of the check, e.g. profile: roboticks", at)
		}
		if _, err := spec.ParseProfiles(e.Profile); err != nil || e.Profile == "all" {
			return nil, fmt.Errorf("%s.profile: %q is not a profile; use one of %s", at, e.Profile, strings.Join(spec.Names(), ", "))
		}
		ch, ok := spec.Lookup(e.Check)
		if !ok {
			return nil, fmt.Errorf("%s.check: %q is not a check ID of the catalogue; use an ID such as JWT-003 (authconform run --list)", at, e.Check)
		}
		applies := false
		for _, c := range spec.ChecksFor(spec.ProfileName(e.Profile)) {
			applies = applies || c.ID == ch.ID
		}
		if !applies {
			return nil, fmt.Errorf("%s.check: %s does not apply to profile %s; remove the entry", at, e.Check, e.Profile)
		}
		if strings.TrimSpace(e.Reason) == "" {
			return nil, fmt.Errorf("%s.reason: missing; say why this failure is accepted (and who will fix it)", at)
		}
		k := e.Profile + "/" + e.Check + "/" + e.Spec
		if seen[k] {
			return nil, fmt.Errorf("%s: duplicate entry for %s %s; keep one", at, e.Profile, e.Check)
		}
		seen[k] = true
	}
	return f.Expectations, nil
}

// ApplyExpectations marks the checks the expectations waive: a failed or
// error check that an expectation matches gets Expected (the reason) and
// no longer counts against the verdict; a passed check that a
// non-intermittent expectation lists gets UnexpectedPass ("remove it").
// It returns one line per unexpected pass.
func ApplyExpectations(checks []CheckResult, exps []Expectation) (unexpected []string) {
	for i := range checks {
		c := &checks[i]
		for _, e := range exps {
			if e.Profile != c.Profile || e.Check != c.ID {
				continue
			}
			switch c.Status {
			case Failed, Error:
				if e.Spec == "" || failingSpecMatches(c, e.Spec) {
					c.Expected = e.Reason
				}
			case Passed:
				if !e.KnownIntermittent {
					c.UnexpectedPass = true
					unexpected = append(unexpected, fmt.Sprintf("%s %s unexpectedly passed: remove it from the expectations file", c.Profile, c.ID))
				}
			}
		}
	}
	return unexpected
}

// failingSpecMatches reports whether every failing or error spec of the
// check's own level has text containing sub: a waiver for one spec does
// not hide another spec's failure.
func failingSpecMatches(c *CheckResult, sub string) bool {
	n := 0
	for _, s := range c.Specs {
		if s.Level != c.Level || (s.Status != Failed && s.Status != Error) {
			continue
		}
		if !strings.Contains(s.Text, sub) {
			return false
		}
		n++
	}
	return n > 0
}

// WriteExpectations writes today's failed and error checks as an
// expectations file to w, each with a reason to be edited.
func WriteExpectations(w io.Writer, checks []CheckResult, now time.Time) error {
	var f ExpectationsFile
	for _, c := range checks {
		if c.Status != Failed && c.Status != Error {
			continue
		}
		f.Expectations = append(f.Expectations, Expectation{Profile: c.Profile, Check: c.ID,
			Reason: fmt.Sprintf("TODO: say why (%s %s on %s: %s)", c.Level, c.Status, now.Format("2006-01-02"), firstLine(c.Reason))})
	}
	fmt.Fprintln(w, "# authconform expectations: listed checks that fail do not fail the run (authconform run --expect FILE).")
	fmt.Fprintln(w, "# Replace each TODO with the reason; add knownIntermittent: true for a check that sometimes passes.")
	if len(f.Expectations) == 0 {
		_, err := fmt.Fprintln(w, "expectations: []")
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return err
	}
	return enc.Close()
}
