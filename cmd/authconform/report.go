package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/tsenart/vegeta/v12/lib/plot"

	"github.com/authconform/authconform/loadgen"
)

func init() {
	register("report", command{summary: "re-report and merge load results files (e.g. the shards of one attack)", run: reportCmd})
}

func reportCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var jsonOut, html, baseline, tolerance string
	var lateAfter = loadgen.DefaultLateAfter
	var ths thresholdsFlag
	fs.StringVar(&jsonOut, "json", "", "write the merged JSON report to this file ('-': stdout, the text report then goes to stderr)")
	fs.StringVar(&html, "html", "", "write vegeta's HTML latency plot of the merged results to this file ('-': stdout)")
	fs.Var(&ths, "threshold", "gate, repeatable, as in 'authconform load' (e.g. p99<5ms, success>=0.999, rate>=0.99*asked; errors<=X defaults to "+loadgen.DefaultErrorsThreshold+")")
	fs.StringVar(&baseline, "baseline", "", "a previous --json report: exit 1 on a regression beyond --tolerance")
	fs.StringVar(&tolerance, "tolerance", "10%", "allowed regression against --baseline")
	fs.DurationVar(&lateAfter, "late-after", loadgen.DefaultLateAfter, "a request leaving later than this after its planned time counts as late")
	var files []string
	for {
		if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
			return code
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) == 0 {
		return usageErr(stderr, "report", "missing results FILE...; give the files written by 'authconform load --results F'")
	}
	if lateAfter <= 0 {
		return usageErr(stderr, "report", "--late-after %s must be positive, e.g. --late-after 1ms", lateAfter)
	}
	tol, err := loadgen.ParseTolerance(tolerance)
	if err != nil {
		return usageErr(stderr, "report", "--tolerance %v", err)
	}
	var base *loadgen.Report
	if baseline != "" {
		if base, err = loadgen.LoadBaseline(baseline); err != nil {
			return usageErr(stderr, "report", "--baseline %v", err)
		}
	}
	textOut, err := stdoutUse(stdout, stderr, map[string]string{"json": jsonOut, "html": html})
	if err != nil {
		return usageErr(stderr, "report", "%v", err)
	}
	seen := map[string]bool{}
	for _, name := range files {
		if seen[name] {
			return usageErr(stderr, "report", "%s is given twice; give each shard's file once", name)
		}
		seen[name] = true
	}
	agg := loadgen.NewAggregator(lateAfter)
	var labels []loadgen.ResultsFile
	var plt *plot.Plot
	if html != "" {
		plt = plot.New(plot.Title("authconform report"))
	}
	for _, name := range files {
		var fh io.ReadCloser = io.NopCloser(os.Stdin) // "-": stdin, e.g. load --results - | report -
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				return usageErr(stderr, "report", "cannot read %s: %v", name, errors.Unwrap(err))
			}
			fh = f
		}
		labels = append(labels, loadgen.ResultsFile{Name: name})
		sink := &tee{a: agg, p: plt, label: loadgen.NewLabelCollector(&labels[len(labels)-1])}
		err = readResults(name, fh, sink)
		fh.Close()
		if err != nil {
			return usageErr(stderr, "report", "%v", err)
		}
	}
	if err := loadgen.CheckMerge(labels); err != nil {
		return usageErr(stderr, "report", "%s", strings.TrimPrefix(err.Error(), loadgen.ErrResults.Error()+": "))
	}
	rep := agg.Report()
	if rep.Requests == 0 {
		return usageErr(stderr, "report", "the files hold no results; give files written by 'authconform load --results F'")
	}
	if base != nil && base.Scenario != "" && rep.Scenario != "" && base.Scenario != rep.Scenario {
		return usageErr(stderr, "report", "--baseline %s is a report of scenario %s, the results are of %s; give a baseline of the same scenario", baseline, base.Scenario, rep.Scenario)
	}
	if plt != nil {
		plt.Close()
		var werr error
		if html == "-" {
			_, werr = plt.WriteTo(stdout)
		} else {
			fh, err := os.Create(html)
			if err != nil {
				return usageErr(stderr, "report", "--html %s: cannot create: %v", html, errors.Unwrap(err))
			}
			_, werr = plt.WriteTo(fh)
			fh.Close()
		}
		if werr != nil {
			fmt.Fprintf(stderr, "authconform report: writing %s: %v\n", html, werr)
			return exitFail
		}
	}
	if rep.CutShort {
		fmt.Fprintf(stderr, "authconform report: the attack was cut short: sent %d of %d planned requests (%s)\n", rep.Sent, rep.Planned, strings.Join(rep.CutShards, "; "))
	}
	return finishReport(rep, nil, jsonOut, ths, base, tol, nil, textOut, stdout, stderr, "report")
}

// tee feeds the aggregator, the plot (if any) and the label collector.
type tee struct {
	a     *loadgen.Aggregator
	p     *plot.Plot
	label func(string)
}

func (t *tee) Add(r *vegeta.Result) {
	t.label(r.Attack)
	t.a.Add(r)
	if t.p != nil {
		_ = t.p.Add(r)
	}
}

// readResults decodes a vegeta results file (binary, JSON or CSV).
func readResults(name string, r io.Reader, sink interface{ Add(*vegeta.Result) }) error {
	dec := vegeta.DecoderFor(r)
	if dec == nil {
		return fmt.Errorf("%s is not a vegeta results file (binary, JSON or CSV); give a file written by --results", name)
	}
	for n := 1; ; n++ {
		var res vegeta.Result
		if err := dec.Decode(&res); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: result %d is unreadable: %v", name, n, err)
		}
		sink.Add(&res)
	}
}
