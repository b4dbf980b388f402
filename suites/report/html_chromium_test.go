package report

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authconform/authconform/env/gate"
	"github.com/authconform/authconform/suites/framework"
)

func chromium() (string, error) {
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (apt-get install chromium; CI installs it)")
}

// headless runs chromium with a bounded time.
func headless(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars=false", "--user-data-dir=" + t.TempDir()}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("chromium %v: no answer in 60 s", args)
	}
	return out.Bytes()
}

// TestHTMLInChromium renders the report in headless Chromium at 1,400 px:
// it never scrolls sideways although a reason and a transcript hold a
// 5,000-character token, failures and errors come first in each profile
// and are linked from the verdict table, and passed checks are folded.
func TestHTMLInChromium(t *testing.T) {
	bin, err := chromium()
	gate.SkipUnless(t, err)
	r := sample()
	token := strings.Repeat("eyJhbGciOiJIUzI1NiJ9", 250)
	for i := range r.Checks {
		if r.Checks[i].Status == framework.Failed && r.Checks[i].Level == "MUST" {
			r.Checks[i].Reason += ": token " + token
			r.Checks[i].Specs = []framework.SpecResult{{Text: "s", Level: "MUST", Status: framework.Failed, Exchanges: []string{"GET /x HTTP/1.1\nAuthorization: Bearer " + token}}}
		}
	}
	b, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "r.html")
	probe := filepath.Join(dir, "probe.html")
	// The report has no scripts; a copy gets one that writes the page's
	// scroll width where --dump-dom shows it.
	script := `<script>window.addEventListener('load',function(){document.title='scrollWidth='+document.documentElement.scrollWidth})</script></body>`
	if err := os.WriteFile(page, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(probe, bytes.Replace(b, []byte("</body>"), []byte(script), 1), 0o644); err != nil {
		t.Fatal(err)
	}

	shot := filepath.Join(dir, "shot.png")
	headless(t, bin, "--window-size=1400,900", "--screenshot="+shot, "file://"+page)
	fh, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if w := img.Bounds().Dx(); w != 1400 {
		t.Errorf("screenshot is %d px wide, want 1400", w)
	}

	dom := string(headless(t, bin, "--window-size=1400,900", "--virtual-time-budget=2000", "--dump-dom", "file://"+probe))
	m := regexp.MustCompile(`scrollWidth=(\d+)`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not report the scroll width:\n%.500s", dom)
	}
	if sw, _ := strconv.Atoi(m[1]); sw > 1400 {
		t.Errorf("the page is %d px wide at a 1,400 px window: it scrolls sideways", sw)
	}
	// Failures first: the first check row of the profile is a failed one.
	sec := dom[strings.Index(dom, `id="profile-roboticks"`):]
	first := regexp.MustCompile(`data-status="([a-z]+)"`).FindStringSubmatch(sec)
	if first == nil || first[1] != framework.Failed {
		t.Errorf("first check row of roboticks: %v, want failed", first)
	}
	for _, c := range r.Checks {
		link := `href="#` + c.Profile + "-" + c.ID + `"`
		isProblem := c.Status == framework.Failed || c.Status == framework.Error
		if isProblem != strings.Contains(dom, link) {
			t.Errorf("%s (%s): link from the verdict table present=%v", c.ID, c.Status, !isProblem)
		}
		if c.Status == framework.Passed {
			fold := strings.Index(sec, `class="passed-checks"`)
			row := strings.Index(sec, `id="`+c.Profile+"-"+c.ID+`"`)
			if fold < 0 || row < fold {
				t.Errorf("passed check %s is not inside the folded section", c.ID)
			}
		}
	}
	if strings.Contains(string(b), "<script") {
		t.Error("the report itself has a script")
	}
}
