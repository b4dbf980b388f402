package gotest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTargetPath: go test runs in the package directory, so a relative
// AUTHCONFORM_TARGET is tried there and then in the module root.
func TestTargetPath(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not at %s: %v", root, err)
	}
	got, err := TargetPath("fixtures/targets/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "fixtures/targets", "example.yaml"); got != want {
		t.Errorf("module-root relative: got %s, want %s", got, want)
	}
	got, err = TargetPath("gotest.go")
	if err != nil || !filepath.IsAbs(got) || filepath.Base(got) != "gotest.go" {
		t.Errorf("package-relative: got %q, %v", got, err)
	}
	if got, err := TargetPath("/abs/x.yaml"); err != nil || got != "/abs/x.yaml" {
		t.Errorf("absolute: got %q, %v", got, err)
	}
	_, err = TargetPath("nope/missing.yaml")
	if err == nil || !strings.Contains(err.Error(), "AUTHCONFORM_TARGET=nope/missing.yaml") || !strings.Contains(err.Error(), "module root") {
		t.Errorf("missing file: %v", err)
	}
}
