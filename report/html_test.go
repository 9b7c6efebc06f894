package report

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"teardown/analyzer"
)

// htmlCheck tokenizes a page and reports anything active that did not
// come from the template: a second script, an element that loads or runs
// something, an event handler attribute, a javascript: URL.
func htmlCheck(t *testing.T, page []byte) (texts string) {
	t.Helper()
	z := html.NewTokenizer(bytes.NewReader(page))
	scripts := 0
	var text strings.Builder
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if z.Err() != io.EOF {
				t.Fatalf("tokenizing: %v", z.Err())
			}
			break
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			text.WriteString(tok.Data)
		case html.StartTagToken, html.SelfClosingTagToken:
			switch tok.Data {
			case "script":
				scripts++
			case "img", "iframe", "object", "embed", "link", "base", "form", "image", "use", "foreignobject", "a":
				if tok.Data == "a" {
					break
				}
				t.Errorf("element <%s> in the page", tok.Data)
			}
			for _, a := range tok.Attr {
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("event handler %s=%q on <%s>", a.Key, a.Val, tok.Data)
				}
				if strings.Contains(strings.ToLower(a.Val), "javascript:") {
					t.Errorf("attribute %s=%q on <%s>", a.Key, a.Val, tok.Data)
				}
				if (a.Key == "href" || a.Key == "src") && !strings.HasPrefix(a.Val, "#") {
					t.Errorf("<%s %s=%q> points outside the page", tok.Data, a.Key, a.Val)
				}
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d script elements, want 1 (the page's own)", scripts)
	}
	return text.String()
}

func TestHTMLHostile(t *testing.T) {
	page := render(t, HTML, Options{Inputs: []string{markup, "b" + markup}, All: true}, []*analyzer.Flow{markupFlow()}, markupInputs())
	if bad := terminalSafe(string(page), false); bad != "" {
		t.Errorf("html carries %q unescaped", bad)
	}
	text := htmlCheck(t, page)
	// The payload is there, as text.
	if !strings.Contains(text, "<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3))") {
		t.Errorf("the payload does not appear as text")
	}
}

func TestHTMLDiagrams(t *testing.T) {
	flows := emitOrder(fixtureFlows())
	page := string(render(t, HTML, Options{Inputs: []string{"capture.pcap"}, All: true}, flows, fixtureInputs()))
	htmlCheck(t, []byte(page))
	for _, f := range flows {
		want := 0
		if len(f.Events) > 0 {
			want = 1
		}
		if got := strings.Count(page, `data-flow="`+strconv.Itoa(f.ID)+`"`); got != want {
			t.Errorf("flow %d: %d diagrams, want %d", f.ID, got, want)
		}
		if !strings.Contains(page, `<tr data-id="`+strconv.Itoa(f.ID)+`" data-class="`+f.Class.String()+`"`) {
			t.Errorf("flow %d: no table row", f.ID)
		}
	}
	for _, want := range []string{"Content-Security-Policy", "default-src &#39;none&#39;", "sha256-", `id="class-filter"`, "Sockets in TIME_WAIT per host"} {
		if !strings.Contains(page, want) && !strings.Contains(page, strings.ReplaceAll(want, "&#39;", "'")) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestHTMLGolden(t *testing.T) {
	checkGolden(t, "html.html", render(t, HTML, Options{Inputs: []string{"capture.pcap"}}, emitOrder(fixtureFlows()), fixtureInputs()))
}
