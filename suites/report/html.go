package report

import (
	"bytes"
	"fmt"
	"html/template"
	"sort"
	"strings"

	"github.com/authconform/authconform/suites/framework"
)

// The page is self-contained: inline CSS, no scripts or fonts from the
// network, readable without JavaScript (details/summary for transcripts).
var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"lower": strings.ToLower,
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
	"secs":  func(ms int64) string { return fmt.Sprintf("%.1f s", float64(ms)/1000) },
	"sum":   func(a, b int) int { return a + b },
	// ordered: failed, error, skipped, then passed (the page leads with
	// what needs attention); problems: the failed and error checks.
	"open":     func(cs []framework.CheckResult, p string) []framework.CheckResult { return pick(cs, p, false) },
	"passed":   func(cs []framework.CheckResult, p string) []framework.CheckResult { return pick(cs, p, true) },
	"problems": problems,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>authconform report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#1b1b1b}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;width:100%;margin:.5em 0}
table.checks{table-layout:fixed}
table.checks col.id{width:6.5em}table.checks col.level{width:4.5em}table.checks col.status{width:8em}table.checks col.title{width:22%}table.checks col.source{width:9em}
th,td{text-align:left;padding:.3em .5em;border-bottom:1px solid #e4e4e4;vertical-align:top;overflow-wrap:anywhere}
details.passed-checks>summary{cursor:pointer;color:#11652c;margin:.5em 0}
.problems a{margin-right:.6em}
th{background:#f4f4f4}
.passed{color:#11652c}.failed{color:#a4161a;font-weight:600}.error{color:#8a4b00;font-weight:600}.skipped{color:#6b6b6b}
.conformant{background:#e3f4e8}.non-conformant{background:#fbe4e4}.incomplete{background:#fff4d6}.interrupted{background:#eee}
.verdict{font-weight:700;padding:.1em .4em;border-radius:3px}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere;word-break:break-all;font-size:12px;max-width:100%}
.meta td:first-child{color:#555;width:10em}
.reason{white-space:pre-wrap;overflow-wrap:anywhere}
</style></head><body>
<h1>authconform conformance report</h1>
<table class="meta">
<tr><td>suite</td><td>{{.Suite}} {{.Version}}</td></tr>
<tr><td>environment</td><td>{{.Env}}</td></tr>
<tr><td>started</td><td>{{.Start.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><td>finished</td><td>{{.End.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{if .Faults}}<tr><td>faults (mutants)</td><td>{{range .Faults}}<code>{{.}}</code> {{end}}</td></tr>{{end}}
{{if .LabelFilter}}<tr><td>label filter</td><td><code>{{.LabelFilter}}</code></td></tr>{{end}}
{{if .Variants}}<tr><td>variants</td><td>{{range .Variants}}<code>{{.}}</code> {{end}}</td></tr>{{end}}
<tr><td>strict</td><td>{{.Strict}}</td></tr>
{{if .Expectations}}<tr><td>expectations</td><td><code>{{.Expectations}}</code>; gate (the verdict after it, which the exit code follows): <span class="verdict {{.Gate}}" id="run-gate">{{.Gate}}</span></td></tr>{{end}}
<tr><td>run verdict</td><td><span class="verdict {{.Verdict}}" id="run-verdict">{{.Verdict}}</span></td></tr>
{{if .Interrupted}}<tr><td>ended early</td><td>{{.Interrupted}}</td></tr>{{end}}
</table>
<h2>Verdict per profile</h2>
<table id="summary"><tr><th>profile</th><th>target</th><th>verdict</th><th>MUST passed</th><th>MUST failed</th><th>MUST error</th><th>MUST skipped</th><th>SHOULD score</th><th>wall</th></tr>
{{range .Summary}}<tr class="{{.Verdict}}" data-profile="{{.Profile}}"><td>{{.Profile}}</td><td>{{index $.Targets .Profile}}</td><td><span class="verdict">{{.Verdict}}</span></td><td>{{.MustPassed}}</td><td>{{.MustFailed}}</td><td>{{.MustError}}</td><td>{{.MustSkipped}} ({{.MustNotApplicable}} not applicable)</td><td>{{pct .ShouldScore}} ({{.ShouldPassed}}/{{sum .ShouldPassed .ShouldFailed}})</td><td>{{secs .WallMs}}</td></tr>
{{with problems $.Checks .Profile}}<tr class="problems"><td colspan="9">failed or error: {{range .}}<a href="#{{.Profile}}-{{.ID}}" class="{{.Status}}">{{.ID}}</a>{{end}}</td></tr>{{end}}
{{if .Incomplete}}<tr class="incomplete"><td colspan="9">applicable MUST checks that did not run: {{range .Incomplete}}<div>{{.}}</div>{{end}}</td></tr>{{end}}
{{if .ExpectedFailures}}<tr class="expected"><td colspan="9">{{.ExpectedFailures}} expected failures (waived by the expectations file)</td></tr>{{end}}
{{if .UnexpectedPasses}}<tr class="unexpected"><td colspan="9">unexpectedly passed, remove from the expectations file: {{range .UnexpectedPasses}}<code>{{.}}</code> {{end}}</td></tr>{{end}}
{{end}}</table>
{{range $p := .Profiles}}
<h2 id="profile-{{$p}}">{{$p}}</h2>
<table class="checks"><colgroup><col class="id"><col class="level"><col class="status"><col class="title"><col class="source"><col></colgroup>
<tr><th>check</th><th>level</th><th>status</th><th>what is checked</th><th>source</th><th>details</th></tr>
{{range open $.Checks $p}}{{template "row" .}}{{end}}
</table>
{{with passed $.Checks $p}}<details class="passed-checks"><summary>{{len .}} passed checks</summary>
<table class="checks"><colgroup><col class="id"><col class="level"><col class="status"><col class="title"><col class="source"><col></colgroup>
{{range .}}{{template "row" .}}{{end}}
</table></details>{{end}}
{{end}}
</body></html>
{{define "row"}}<tr class="check" id="{{.Profile}}-{{.ID}}" data-id="{{.ID}}" data-status="{{.Status}}">
<td>{{.ID}}</td><td>{{.Level}}</td><td class="{{.Status}}">{{.Status}}{{if .SkipKind}} ({{.SkipKind}}){{end}}</td><td>{{.Title}}</td><td>{{.Source}}</td>
<td>{{if .Expected}}<div class="reason expected">expected failure (waived): {{.Expected}}</div>{{end}}{{if .UnexpectedPass}}<div class="reason unexpected">unexpectedly passed: remove it from the expectations file</div>{{end}}{{if .Reason}}<div class="reason">{{.Reason}}</div>{{end}}
{{range .ShouldFailures}}<div class="reason">SHOULD not met: {{.}}</div>{{end}}
{{range .Info}}<div class="reason">info: {{.}}</div>{{end}}
{{range .Specs}}{{if .Exchanges}}<details><summary>{{.Text}} — {{.Status}} ({{.DurationMs}} ms): sent and received</summary>{{range .Exchanges}}<pre>{{.}}</pre>{{end}}</details>{{end}}{{end}}
</td></tr>{{end}}
`))

// statusRank orders the page: what needs attention first.
var statusRank = map[string]int{framework.Failed: 0, framework.Error: 1, framework.Skipped: 2, framework.Passed: 3}

// pick returns profile p's checks that passed (passed=true) or the
// others, failed first, in catalogue order within a status.
func pick(cs []framework.CheckResult, p string, passed bool) []framework.CheckResult {
	var out []framework.CheckResult
	for _, c := range cs {
		if c.Profile == p && (c.Status == framework.Passed) == passed {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return statusRank[out[i].Status] < statusRank[out[j].Status] })
	return out
}

// problems returns profile p's failed and error checks, failed first.
func problems(cs []framework.CheckResult, p string) []framework.CheckResult {
	var out []framework.CheckResult
	for _, c := range pick(cs, p, false) {
		if c.Status == framework.Failed || c.Status == framework.Error {
			out = append(out, c)
		}
	}
	return out
}

// HTML renders the run as a self-contained page.
func HTML(r *framework.RunReport) ([]byte, error) {
	var b bytes.Buffer
	if err := page.Execute(&b, r); err != nil {
		return nil, fmt.Errorf("report: html: %w", err)
	}
	return b.Bytes(), nil
}

// WriteHTML writes the page.
func WriteHTML(path string, r *framework.RunReport) error {
	b, err := HTML(r)
	if err != nil {
		return err
	}
	return write(path, b)
}
