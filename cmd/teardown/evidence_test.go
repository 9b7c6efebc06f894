package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type evFlow struct {
	CommunityID string `json:"community_id"`
	Incarnation int    `json:"incarnation"`
	Class       string `json:"class"`
}

func jsonFlows(t *testing.T, args ...string) []evFlow {
	t.Helper()
	code, out, errOut := teardown(t, append([]string{"--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("teardown %v: exit %d, stderr %q", args, code, errOut)
	}
	var doc struct {
		Flows []evFlow `json:"flows"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Flows
}

// The evidence pcapng holds exactly the selected flows' packets: read back
// with the offline reader, it gives the same verdicts; tshark reads it and
// shows the verdict comments.
func TestWritePcap(t *testing.T) {
	requireCapture(t)
	src := "../../testdata/pcaps/showcase.pcap"
	if _, err := os.Stat(src); err != nil {
		t.Skipf("capture not there: %v", err)
	}
	ev := filepath.Join(t.TempDir(), "evidence.pcapng")
	want := jsonFlows(t, "--write-pcap", ev, src)
	got := jsonFlows(t, ev)
	key := func(f evFlow) string { return f.CommunityID + "/" + string(rune('0'+f.Incarnation)) }
	classes := map[string]string{}
	for _, f := range got {
		classes[key(f)] = f.Class
	}
	if len(got) != len(want) {
		t.Errorf("evidence holds %d flows, the capture %d", len(got), len(want))
	}
	for _, f := range want {
		if c := classes[key(f)]; c != f.Class {
			t.Errorf("flow %s: class %q from the evidence, %q from the capture", key(f), c, f.Class)
		}
	}

	// Only the selected flows, with -o FILE.pcapng.
	ev2 := filepath.Join(t.TempDir(), "rst.pcapng")
	code, _, errOut := teardown(t, "--class", "rst-abort", "-o", ev2, src)
	if code != 0 {
		t.Fatalf("-o %s: exit %d, %s", ev2, code, errOut)
	}
	sel := jsonFlows(t, ev2)
	if len(sel) != 1 || sel[0].Class != "rst-abort" {
		t.Errorf("-o .pcapng with --class rst-abort: flows %+v", sel)
	}

	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (Debian package tshark): skipping the tshark check of the evidence file")
	}
	out, err := exec.Command(tshark, "-r", ev, "-T", "fields", "-e", "frame.comment").Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", ev, err)
	}
	lines := strings.Split(string(out), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	// Every flow was selected, so every TCP frame of the capture is
	// evidence.
	code, js, _ := teardown(t, "--format", "json", src)
	var doc struct {
		Inputs []struct {
			TCP int `json:"tcp"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(js), &doc); code != 0 || err != nil || len(doc.Inputs) != 1 {
		t.Fatalf("json of %s: exit %d, %v", src, code, err)
	}
	if len(lines) != doc.Inputs[0].TCP {
		t.Errorf("tshark reads %d frames, want the capture's %d TCP frames", len(lines), doc.Inputs[0].TCP)
	}
	comments := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "teardown flow ") {
			comments++
		}
	}
	if comments != len(want) {
		t.Errorf("tshark shows %d verdict comments, want %d:\n%s", comments, len(want), out)
	}
}

func TestWritePcapStdin(t *testing.T) {
	code, _, errOut := teardown(t, "--write-pcap", filepath.Join(t.TempDir(), "x.pcapng"), "-")
	if code != exitError || !strings.Contains(errOut, "standard input") {
		t.Errorf("--write-pcap with stdin: exit %d, stderr %q", code, errOut)
	}
}
