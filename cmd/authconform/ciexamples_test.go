package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCIExamples keeps the implementers' CI examples honest: they pin a
// version of authconform (never @latest), wait for the server with a
// bounded loop before running the suite, run it with all three reports,
// and keep the JSON and HTML reports as artefacts as well as JUnit.
func TestCIExamples(t *testing.T) {
	files, err := filepath.Glob("../../ci/examples/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no CI examples: %v", err)
	}
	pin := regexp.MustCompile(`AUTHCONFORM_VERSION: v\d+\.\d+\.\d+`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, name := string(b), filepath.Base(f)
		if strings.Contains(s, "@latest") || !pin.MatchString(s) || !strings.Contains(s, "cmd/authconform@${AUTHCONFORM_VERSION}") {
			t.Errorf("%s: install a pinned version (AUTHCONFORM_VERSION: vX.Y.Z), not @latest", name)
		}
		wait, run := strings.Index(s, "seq 1 60"), strings.Index(s, "authconform run")
		if wait < 0 || run < 0 || wait > run || !strings.Contains(s[wait:run], "curl") {
			t.Errorf("%s: wait for the server with a bounded curl loop before 'authconform run'", name)
		}
		for _, flag := range []string{"--junit reports/junit.xml", "--json reports/report.json", "--html reports/report.html"} {
			if !strings.Contains(s, flag) {
				t.Errorf("%s: the run lacks %s", name, flag)
			}
		}
		art := s[strings.LastIndex(s, "artifact"):]
		for _, p := range []string{"reports/report.json", "reports/report.html", "reports/junit.xml"} {
			if !strings.Contains(art, p) {
				t.Errorf("%s: %s is not kept as an artefact", name, p)
			}
		}
	}
}
