package framework

import (
	"fmt"
	"io"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/onsi/gomega"

	"github.com/authconform/authconform/spec"
)

// DefaultLabelFilter keeps the long statistical timing checks out of the
// default run; select them with --label-filter needs:timing.
const DefaultLabelFilter = "!needs:timing"

// RunOptions configure Run.
type RunOptions struct {
	// LabelFilter is a Ginkgo label expression ("" = DefaultLabelFilter).
	LabelFilter string
	// Progress receives one line per check as its last spec finishes
	// (nil = none); with Verbose also one line per spec.
	Progress io.Writer
	// Secrets are masked in progress lines and results.
	Secrets []string
	// Timeout bounds the whole run (0 = 20 minutes).
	Timeout time.Duration
	// GinkgoOutput keeps Ginkgo's own reporter (go test); false silences
	// it to failures only.
	Verbose bool
}

// Run builds the tree for ctxs and runs it once. It can be called only once
// per process (a Ginkgo rule). t is a *testing.T under go test, or any
// value with Fail() in the CLI. It returns Ginkgo's report and the
// aggregator that judges it (its Ended says why the run ended early).
func Run(t GinkgoTestingT, ctxs []*Ctx, o RunOptions) (types.Report, Aggregator) {
	gomega.RegisterFailHandler(Fail)
	resetHealth()
	Build(ctxs)
	filter := o.LabelFilter
	if filter == "" {
		// Under go test, Ginkgo's own -ginkgo.label-filter is honoured.
		if sc, _ := GinkgoConfiguration(); sc.LabelFilter != "" {
			filter = sc.LabelFilter
		}
	}
	if filter == "" {
		filter = DefaultLabelFilter
	}
	agg := Aggregator{Secrets: o.Secrets}
	if sel, err := types.ParseLabelFilter(filter); err == nil {
		agg.Selected = sel
	}
	var report types.Report
	byProfile := map[string]*Ctx{}
	for _, c := range ctxs {
		byProfile[string(c.Name())] = c
	}
	type key struct{ profile, id string }
	finished := map[key][]types.SpecReport{}
	ReportAfterEach(func(sr types.SpecReport) {
		if o.Progress == nil || sr.LeafNodeType != types.NodeTypeIt {
			return
		}
		if o.Verbose {
			fmt.Fprintln(o.Progress, "  "+agg.ProgressLine(sr))
		}
		labels := sr.Labels()
		k := key{labelValue(labels, "profile:"), CheckIDOf(labels)}
		c := byProfile[k.profile]
		if c == nil || k.id == "" {
			return
		}
		finished[k] = append(finished[k], sr)
		if len(finished[k]) == c.specCount[k.id] {
			ch, _ := spec.Lookup(k.id)
			cr := agg.Check(ch, c.Name(), finished[k])
			// Checks the filter left out are summed up at the end, not
			// listed one by one.
			if cr.Status != Skipped || cr.SkipKind != NotSelected {
				fmt.Fprintln(o.Progress, CheckLine(cr))
			}
		}
	})
	ReportAfterSuite("authconform results", func(r types.Report) { report = r })
	sc, rc := GinkgoConfiguration()
	sc.LabelFilter = filter
	sc.Timeout = o.Timeout
	if sc.Timeout == 0 {
		sc.Timeout = 20 * time.Minute
	}
	if !o.Verbose && !rc.Verbose && !rc.VeryVerbose {
		rc.Succinct = true
		rc.SilenceSkips = true
	}
	RunSpecs(t, "authconform conformance", sc, rc)
	agg.Ended, agg.Interrupted = EndReason(report, ctxs)
	return report, agg
}

// EndReason says why a run ended before every selected spec ran: a signal
// or the suite timeout (interrupted), or a target that stopped answering
// (not an interruption: what ran is judged, the rest is not-run). "" when
// it ran to the end.
func EndReason(r types.Report, ctxs []*Ctx) (why string, interrupted bool) {
	for _, w := range r.SpecialSuiteFailureReasons {
		switch {
		case strings.Contains(w, "Timeout"):
			return "the run's --timeout elapsed", true
		case strings.Contains(w, "Interrupted"):
			return "the run was interrupted by a signal", true
		}
	}
	for _, c := range ctxs {
		if w := Unresponsive(c.Target().BaseURL); w != "" {
			return w, false
		}
	}
	return "", false
}

// Selects reports whether the label filter selects at least one spec of a
// check that applies to one of the profiles: a filter that selects nothing
// ("JWT-999", "area:nope") is a usage error, not a conformant run.
func Selects(filter string, profiles []spec.ProfileName) (bool, error) {
	if filter == "" {
		filter = DefaultLabelFilter
	}
	sel, err := types.ParseLabelFilter(filter)
	if err != nil {
		return false, err
	}
	for _, p := range profiles {
		for _, ch := range spec.ChecksFor(p) {
			// A check's specs carry its own level, and SHOULD for the
			// SHOULD parts of a MUST check.
			for _, l := range []spec.Level{ch.LevelFor(p), spec.SHOULD} {
				labels := []string{CheckLabel(ch.ID), LevelLabel(l), AreaLabel(ch.Area), ProfileLabel(p)}
				for _, n := range ch.Needs {
					labels = append(labels, NeedLabel(n))
				}
				if sel(labels) {
					return true, nil
				}
			}
		}
	}
	return false, nil
}
