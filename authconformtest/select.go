package authconformtest

import (
	"flag"
	"regexp"
	"strings"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
)

// runSelection reads -test.run and returns the check IDs of profile p its
// pattern selects below the test named name (the subtests are
// name/<profile>/<CHECK-ID>). ids is nil when the pattern does not narrow
// the checks; ok is false when it selects none of this run's subtests,
// so the run need not start.
func runSelection(name string, p spec.ProfileName) (ids []string, ok bool) {
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return nil, true
	}
	return selectIDs(f.Value.String(), name, p)
}

// selectIDs is runSelection for the pattern pat, matched the way go test
// does: split at unbracketed slashes, element i matching (unanchored)
// element i of the subtest's name.
func selectIDs(pat, name string, p spec.ProfileName) (ids []string, ok bool) {
	elems := splitRegexp(pat)
	depth := len(strings.Split(name, "/"))
	if len(elems) <= depth {
		return nil, true
	}
	pre, err := regexp.Compile(elems[depth])
	if err != nil {
		// go test reports the bad pattern itself.
		return nil, true
	}
	if !pre.MatchString(string(p)) {
		return nil, false
	}
	if len(elems) <= depth+1 {
		return nil, true
	}
	ire, err := regexp.Compile(elems[depth+1])
	if err != nil {
		return nil, true
	}
	all := spec.ChecksFor(p)
	for _, ch := range all {
		if ire.MatchString(ch.ID) {
			ids = append(ids, ch.ID)
		}
	}
	switch len(ids) {
	case 0:
		return nil, false
	case len(all):
		return nil, true
	}
	return ids, true
}

// selectionFilter narrows the label filter base ("" = the default) to
// the checks ids.
func selectionFilter(base string, ids []string) string {
	if base == "" {
		base = framework.DefaultLabelFilter
	}
	labels := make([]string, len(ids))
	for i, id := range ids {
		labels[i] = framework.CheckLabel(id)
	}
	return "(" + base + ") && (" + strings.Join(labels, " || ") + ")"
}

// splitRegexp splits a -test.run pattern at the slashes that are not
// inside brackets or parentheses, as the testing package does.
func splitRegexp(s string) []string {
	var out []string
	cs, cp := 0, 0 // open brackets, open parentheses
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			cs++
		case ']':
			if cs--; cs < 0 {
				cs = 0
			}
		case '(':
			if cs == 0 {
				cp++
			}
		case ')':
			if cs == 0 {
				cp--
			}
		case '\\':
			i++
		case '/':
			if cs == 0 && cp == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
