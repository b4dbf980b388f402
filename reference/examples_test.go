package reference

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/authconform/authconform/spec"
)

// The example target files in fixtures/targets describe the reference
// started with --addr 127.0.0.1:8080 exactly.
func TestExampleTargetFilesMatchTheReference(t *testing.T) {
	for _, p := range spec.AllProfiles {
		got, err := spec.LoadTarget(filepath.Join("..", "fixtures", "targets", string(p)+".yaml"))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		s, err := New(Config{Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		want := s.Target("http://127.0.0.1:8080")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: fixtures/targets/%s.yaml is stale; regenerate it with 'authconform reference --profile %s --target-out' (baseURL http://127.0.0.1:8080)", p, p, p)
		}
	}
}

func TestExampleTemplateParses(t *testing.T) {
	if _, err := spec.LoadTarget(filepath.Join("..", "fixtures", "targets", "example.yaml")); err != nil {
		t.Fatal(err)
	}
}
