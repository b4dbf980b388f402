package framework

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every HTTP client of the suite is built by NewHTTPClient, which never
// follows a redirect: a client built by hand would send the fixture
// credentials wherever a target's 3xx points.
func TestNoHandBuiltHTTPClients(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "framework/http.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), "http.Client{") || strings.Contains(string(b), "http.DefaultClient") {
			t.Errorf("%s builds an http.Client by hand; use framework.NewHTTPClient (no redirects)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
