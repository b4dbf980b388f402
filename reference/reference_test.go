package reference

import (
	"testing"

	"github.com/authconform/authconform/spec"
)

func TestTargetValidatesForEveryProfile(t *testing.T) {
	for _, p := range spec.AllProfiles {
		t.Run(string(p), func(t *testing.T) {
			s, err := New(Config{Profile: p})
			if err != nil {
				t.Fatal(err)
			}
			tg := s.Target("http://127.0.0.1:8080")
			if err := tg.Validate(); err != nil {
				t.Fatalf("Target does not validate: %v", err)
			}
		})
	}
}
