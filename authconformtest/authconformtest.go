// Package authconformtest runs the authconform conformance suite from an
// implementer's own go test, in the manner of testing/fstest.TestFS:
//
//	func TestConformance(t *testing.T) {
//		authconformtest.Run(t, authconformtest.Target{Handler: myAPI, Fixtures: fixtures})
//		// or, against a running server:
//		// authconformtest.RunFile(t, "testdata/target.yaml")
//	}
//
// Every applicable check becomes a subtest named <profile>/<CHECK-ID>, so
// `go test -run 'Conformance/roboticks/JWT-003'` runs only that check (the
// -test.run pattern is turned into a label filter, the others are not
// even started). A passed check is ok; a failed MUST check fails its
// subtest with the reason; an error (the suite could not establish what
// the check needs) fails it as "error (inconclusive)"; a failed SHOULD
// check is logged, and fails only with Options.Strict; a skipped check is
// skipped with its kind and reason.
//
// Ginkgo, which the suite is written in, allows one RunSpecs per process.
// Run therefore re-executes the test binary itself as a child process
// (os.Args[0] -test.run=^$ with an environment variable this package's
// init recognises): the child runs the suite against a target file the
// parent wrote, writes the report to a file and exits before testing.M
// starts. So Run and Check may be called any number of times in one test
// binary. The parent serves the handler on a 127.0.0.1 listener; with
// Target.Deploy it also serves a loopback control endpoint, authenticated
// by a random bearer token given to the child only through its
// environment, through which the child asks for fresh deployments.
//
// The package does not link Docker or testcontainers: it uses the suite's
// framework and specs, nothing from env/.
package authconformtest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/spec"
	"github.com/authconform/authconform/suites/framework"
	"github.com/authconform/authconform/suites/report"
)

// Target is the implementation under test: an in-process handler or the
// URL of a running server, and its fixtures.
type Target struct {
	// Handler is served on a fresh listener on 127.0.0.1 for the run.
	Handler http.Handler
	// URL is the base URL (scheme://host[:port]) of a running server;
	// used when Handler is nil. Without both, Fixtures' own BaseURL is used.
	URL string
	// Fixtures describe the implementation's fixture principals, keys,
	// resources and control (a spec.Target; its BaseURL is replaced by the
	// handler's listener or URL). The value is not modified.
	Fixtures *spec.Target
	// FixturesFile is a target file (spec.LoadTarget) read when Fixtures
	// is nil.
	FixturesFile string
	// Deploy, when set, builds a fresh, separate instance of the
	// implementation configured with seed 003's deployment variables
	// (JWT_SECRET, JWT_PUBLIC_KEY, JWT_PRIVATE_KEY, LICENSE_KEY,
	// LICENSE_PUBLIC_KEY). It is served on its own listener with the same
	// fixtures, the control fields named by the variables updated. Without
	// it the checks that need deployment control are skipped as not-run.
	// It is called from the control endpoint's goroutine, possibly
	// concurrently with the running handlers.
	Deploy func(vars map[string]string) (http.Handler, error)
}

// Options configure a run; the zero value is the suite's default run.
type Options struct {
	// LabelFilter is a Ginkgo label expression ("" = the suite's default,
	// which leaves out the long timing checks). Under Run it is combined
	// with the check IDs that -test.run names.
	LabelFilter string
	// Strict makes a failed or inconclusive SHOULD check (or SHOULD part)
	// fail the test.
	Strict bool
	// RequireAll makes an incomplete run (an applicable MUST check that
	// did not run) fail the test.
	RequireAll bool
	// JSONReport, JUnitReport and HTMLReport are paths to write the
	// reports to ("" = none).
	JSONReport, JUnitReport, HTMLReport string
	// Timeout bounds the suite's run (0 = 20 minutes, and never past the
	// test binary's -timeout deadline).
	Timeout time.Duration
}

// ErrPreflight is wrapped by Check's error when preflight found the target
// unusable: no check was run.
var ErrPreflight = errors.New("authconformtest: preflight failed")

// Run runs the suite against tg and reports every check as a subtest of t
// named <profile>/<CHECK-ID>. Only checks selected by -test.run (and
// opts' label filter) run. It fails t when the run is non-conformant,
// interrupted, or (with RequireAll) incomplete, when preflight fails, or
// when the suite cannot be run. At most one Options value is used.
func Run(t *testing.T, tg Target, opts ...Options) {
	t.Helper()
	o := one(opts)
	fix, err := fixtures(tg)
	if err != nil {
		t.Fatal(err)
	}
	sel, ok := runSelection(t.Name(), fix.Profile)
	if !ok {
		// -test.run selects no subtest of this run: nothing to start.
		return
	}
	filter := o.LabelFilter
	if sel != nil {
		filter = selectionFilter(o.LabelFilter, sel)
	}
	rep, problems, err := check(tg, fix, o, filter, deadline(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			t.Errorf("preflight: %s: %s", fix.Profile, p)
		}
		t.FailNow()
	}
	if err := writeReports(rep, o); err != nil {
		t.Error(err)
	}
	byProfile := map[string][]framework.CheckResult{}
	var order []string
	for _, cr := range rep.Checks {
		if _, seen := byProfile[cr.Profile]; !seen {
			order = append(order, cr.Profile)
		}
		byProfile[cr.Profile] = append(byProfile[cr.Profile], cr)
	}
	for _, p := range order {
		t.Run(p, func(t *testing.T) {
			for _, cr := range byProfile[p] {
				t.Run(cr.ID, func(t *testing.T) { subtest(t, cr, o.Strict) })
			}
		})
	}
	if rep.Interrupted != "" {
		t.Errorf("run interrupted: %s", rep.Interrupted)
	}
	if framework.ExitCode(rep.Verdict, o.RequireAll) != framework.ExitConformant {
		for _, s := range rep.Summary {
			if o.RequireAll && s.Verdict == framework.Incomplete {
				for _, why := range s.Incomplete {
					t.Errorf("incomplete: %s %s", s.Profile, why)
				}
			}
		}
		t.Errorf("verdict: %s", rep.Verdict)
	}
}

// RunFile is Run against the running server a target file describes.
func RunFile(t *testing.T, path string, opts ...Options) {
	t.Helper()
	Run(t, Target{FixturesFile: path}, opts...)
}

// Check runs the suite against tg and returns the report instead of
// failing a test: for tests that assert on the verdict (a defect must be
// caught). The error is set when the suite could not run, or when
// preflight failed (wrapping ErrPreflight); a non-conformant run is not an
// error. It writes the reports opts name.
func Check(tg Target, opts Options) (*framework.RunReport, error) {
	fix, err := fixtures(tg)
	if err != nil {
		return nil, err
	}
	rep, problems, err := check(tg, fix, opts, opts.LabelFilter, time.Time{})
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w for %s: %s", ErrPreflight, fix.Profile, strings.Join(problems, "; "))
	}
	return rep, writeReports(rep, opts)
}

// subtest reports one check result on t.
func subtest(t *testing.T, cr framework.CheckResult, strict bool) {
	for _, s := range cr.ShouldFailures {
		if strict {
			t.Errorf("SHOULD part not met: %s", s)
		} else {
			t.Logf("SHOULD part not met: %s", s)
		}
	}
	for _, i := range cr.Info {
		t.Logf("info: %s", i)
	}
	must := cr.Level == string(spec.MUST)
	switch cr.Status {
	case framework.Passed:
	case framework.Failed:
		if must || strict {
			t.Errorf("%s %s failed: %s", cr.Level, cr.Title, cr.Reason)
		} else {
			t.Logf("%s %s failed (not a test failure without Strict): %s", cr.Level, cr.Title, cr.Reason)
		}
	case framework.Error:
		if must || strict {
			t.Errorf("error (inconclusive): %s", cr.Reason)
		} else {
			t.Logf("error (inconclusive; not a test failure without Strict): %s", cr.Reason)
		}
	default:
		t.Skipf("%s: %s", cr.SkipKind, cr.Reason)
	}
}

func one(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0]
	}
	return Options{}
}

// fixtures resolves tg's fixtures to a copy the caller may change.
func fixtures(tg Target) (*spec.Target, error) {
	var f spec.Target
	switch {
	case tg.Fixtures != nil:
		f = *tg.Fixtures
	case tg.FixturesFile != "":
		lt, err := spec.LoadTarget(tg.FixturesFile)
		if err != nil {
			return nil, fmt.Errorf("authconformtest: Target.FixturesFile: %w", err)
		}
		f = *lt
	default:
		return nil, errors.New("authconformtest: Target.Fixtures: no fixtures; set Fixtures (a *spec.Target) or FixturesFile (a target file)")
	}
	if _, err := spec.Get(f.Profile); err != nil {
		return nil, fmt.Errorf("authconformtest: Target.Fixtures.Profile: %w", err)
	}
	return &f, nil
}

// deadline is the test binary's -timeout deadline (zero when none).
func deadline(t *testing.T) time.Time {
	d, _ := t.Deadline()
	return d
}

func writeReports(rep *framework.RunReport, o Options) error {
	var errs []error
	for _, w := range []struct {
		path  string
		write func(string, *framework.RunReport) error
		field string
	}{{o.JSONReport, report.WriteJSON, "JSONReport"}, {o.JUnitReport, report.WriteJUnit, "JUnitReport"}, {o.HTMLReport, report.WriteHTML, "HTMLReport"}} {
		if w.path == "" {
			continue
		}
		if err := w.write(w.path, rep); err != nil {
			errs = append(errs, fmt.Errorf("authconformtest: Options.%s: %w", w.field, err))
		}
	}
	return errors.Join(errs...)
}

// runTimeout is the suite's timeout for o, shortened to end before the
// test binary's deadline (with a margin to collect and report).
func runTimeout(o Options, dl time.Time) time.Duration {
	d := o.Timeout
	if d <= 0 {
		d = 20 * time.Minute
	}
	if !dl.IsZero() {
		if left := time.Until(dl) - 30*time.Second; left < d {
			d = max(left, 10*time.Second)
		}
	}
	return d
}
