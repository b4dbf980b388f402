package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

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
	fs.StringVar(&jsonOut, "json", "", "write the merged JSON report to this file")
	fs.StringVar(&html, "html", "", "write vegeta's HTML latency plot of the merged results to this file")
	fs.Var(&ths, "threshold", "gate, repeatable, as in 'authconform load' (e.g. p99<5ms, success>=0.999, rate>=0.99*asked)")
	fs.StringVar(&baseline, "baseline", "", "a previous --json report: exit 1 on a regression beyond --tolerance")
	fs.StringVar(&tolerance, "tolerance", "10%", "allowed regression against --baseline")
	fs.DurationVar(&lateAfter, "late-after", loadgen.DefaultLateAfter, "a request leaving later than this after its planned time counts as late")
	var files []string
	for {
		if code, ok := parseFlags(fs, args, stderr); !ok {
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
	agg := loadgen.NewAggregator(lateAfter)
	var plt *plot.Plot
	if html != "" {
		plt = plot.New(plot.Title("authconform report"))
	}
	for _, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			return usageErr(stderr, "report", "cannot read %s: %v", name, errors.Unwrap(err))
		}
		var sink interface{ Add(*vegeta.Result) } = agg
		if plt != nil {
			sink = tee{agg, plt}
		}
		err = readResults(name, fh, sink)
		fh.Close()
		if err != nil {
			return usageErr(stderr, "report", "%v", err)
		}
	}
	rep := agg.Report()
	if rep.Requests == 0 {
		return usageErr(stderr, "report", "the files hold no results; give files written by 'authconform load --results F'")
	}
	if plt != nil {
		plt.Close()
		fh, err := os.Create(html)
		if err != nil {
			return usageErr(stderr, "report", "--html %s: cannot create: %v", html, errors.Unwrap(err))
		}
		_, werr := plt.WriteTo(fh)
		fh.Close()
		if werr != nil {
			fmt.Fprintf(stderr, "authconform report: writing %s: %v\n", html, werr)
			return exitFail
		}
	}
	return finishReport(rep, nil, jsonOut, ths, base, tol, nil, stdout, stderr, "report")
}

type tee struct {
	a *loadgen.Aggregator
	p *plot.Plot
}

func (t tee) Add(r *vegeta.Result) { t.a.Add(r); _ = t.p.Add(r) }

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
