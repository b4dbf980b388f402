package framework

import (
	"fmt"
	"io"
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
// value with Fail() in the CLI.
func Run(t GinkgoTestingT, ctxs []*Ctx, o RunOptions) (types.Report, bool) {
	gomega.RegisterFailHandler(Fail)
	Build(ctxs)
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
			fmt.Fprintln(o.Progress, "  "+ProgressLine(sr, o.Secrets))
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
			fmt.Fprintln(o.Progress, CheckLine(aggregate(ch, c.Name(), finished[k], o.Secrets)))
		}
	})
	ReportAfterSuite("authconform results", func(r types.Report) { report = r })
	sc, rc := GinkgoConfiguration()
	sc.LabelFilter = o.LabelFilter
	if sc.LabelFilter == "" {
		sc.LabelFilter = DefaultLabelFilter
	}
	sc.Timeout = o.Timeout
	if sc.Timeout == 0 {
		sc.Timeout = 20 * time.Minute
	}
	if !o.Verbose && !rc.Verbose && !rc.VeryVerbose {
		rc.Succinct = true
		rc.SilenceSkips = true
	}
	ok := RunSpecs(t, "authconform conformance", sc, rc)
	return report, ok
}
