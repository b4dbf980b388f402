package all_test

import (
	"context"
	"sort"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/authconform/authconform/env"
	"github.com/authconform/authconform/spec"
	_ "github.com/authconform/authconform/suites/all"
	"github.com/authconform/authconform/suites/framework"
)

// TestCatalogueInStep keeps spec/catalogue.yaml (the checked-in list of
// check IDs) and the specs in step: every check applicable to a profile has
// at least one spec for that profile, and every spec carries exactly one
// listed check ID (an unlisted ID panics while the tree is built).
func TestCatalogueInStep(t *testing.T) {
	ctxs, closeAll, err := env.Contexts(context.Background(), env.Options{Profiles: spec.AllProfiles, Env: env.EnvEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	framework.Build(ctxs)
	rep := PreviewSpecs("catalogue preview")

	type key struct{ profile, id string }
	have := map[key]int{}
	for _, sr := range rep.SpecReports {
		if sr.LeafNodeType != types.NodeTypeIt {
			continue
		}
		ids := 0
		var id, profile string
		for _, l := range sr.Labels() {
			if _, ok := spec.Lookup(l); ok {
				ids++
				id = l
			}
			if len(l) > 8 && l[:8] == "profile:" {
				profile = l[8:]
			}
		}
		if ids != 1 || profile == "" {
			t.Errorf("spec %q has %d check IDs and profile %q; want exactly one listed ID and a profile (use framework.Ctx.It)", sr.FullText(), ids, profile)
			continue
		}
		have[key{profile, id}]++
	}
	var missing []string
	for _, p := range spec.AllProfiles {
		for _, c := range spec.ChecksFor(p) {
			if have[key{string(p), c.ID}] == 0 {
				missing = append(missing, string(p)+"/"+c.ID)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("catalogue checks without a spec: %v", missing)
	}
}
