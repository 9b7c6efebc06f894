package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium (Debian packages chromium and
// chromium-driver), or skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: install the Debian packages chromium and chromium-driver to run the browser test")
	return ""
}

// runChromium runs Chromium headless with networking off and a fresh
// profile.
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Stderr = nil
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return string(out)
}

// TestHTMLInBrowser loads the html report of the showcase capture in
// headless Chromium: the page's script must run (body data-ready), every
// shown flow must have its diagram, and the class filter given in the URL
// (#class=rst-abort) must hide the other flows. It saves a screenshot to
// $TEARDOWN_SCREENSHOT, or to teardown-report.png in the test's temporary
// directory, and logs where.
func TestHTMLInBrowser(t *testing.T) {
	requireCapture(t)
	bin := chromium(t)
	src := "../../testdata/pcaps/showcase.pcap"
	if _, err := os.Stat(src); err != nil {
		t.Skipf("capture not there: %v", err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	code, _, errOut := teardown(t, "--all", "-o", page, src)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	ids := regexp.MustCompile(`<section class="flow" id="flow-(\d+)" data-class="([a-z-]+)"`).FindAllStringSubmatch(string(html), -1)
	if len(ids) == 0 {
		t.Fatal("the report shows no flow")
	}

	dom := runChromium(t, bin, "--virtual-time-budget=5000", "--dump-dom", "file://"+page+"#class=rst-abort")
	if !strings.Contains(dom, `data-ready="1"`) {
		t.Fatalf("the page's script did not run (no data-ready=1 on body):\n%.2000s", dom)
	}
	if !strings.Contains(dom, `data-filter="rst-abort"`) {
		t.Errorf("the class filter from the URL was not applied")
	}
	for _, m := range ids {
		id, class := m[1], m[2]
		sec := regexp.MustCompile(`<section class="flow" id="flow-` + id + `" data-class="` + class + `"( hidden="")?>`).FindStringSubmatch(dom)
		if sec == nil {
			t.Errorf("flow %s: section missing from the DOM", id)
			continue
		}
		if hidden := sec[1] != ""; hidden != (class != "rst-abort") {
			t.Errorf("flow %s (%s): hidden=%v with the filter rst-abort", id, class, hidden)
		}
		if !strings.Contains(dom, `data-flow="`+id+`"`) {
			t.Errorf("flow %s: no sequence diagram in the DOM", id)
		}
		row := regexp.MustCompile(`<tr data-id="` + id + `" data-class="` + class + `"( hidden="")?>`).FindStringSubmatch(dom)
		if row == nil {
			t.Errorf("flow %s: no table row", id)
		} else if hidden := row[1] != ""; hidden != (class != "rst-abort") {
			t.Errorf("flow %s row: hidden=%v with the filter rst-abort", id, hidden)
		}
	}

	shot := os.Getenv("TEARDOWN_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "teardown-report.png")
	}
	runChromium(t, bin, "--window-size=1100,2400", "--virtual-time-budget=5000", "--screenshot="+shot, "file://"+page)
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}
