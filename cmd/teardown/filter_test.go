package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestFilterFiles checks that -f filters capture files: the flows of the
// other port disappear, the frame numbers of the file are kept.
func TestFilterFiles(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Skip("tcpdump not installed: -f EXPR needs it to compile the filter")
	}
	const file = "../../testdata/pcaps/formats.server-any-sll2.pcap"
	var all, some, errb bytes.Buffer
	if st := run([]string{"-F", "ndjson", file}, &all, &errb); st != 0 {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if st := run([]string{"-F", "ndjson", "-f", "tcp port 40001", file}, &some, &errb); st != 0 {
		t.Fatalf("status %d: %s", st, errb.String())
	}
	if n := strings.Count(all.String(), `"type":"flow"`); n != 2 {
		t.Fatalf("unfiltered: %d flows, want 2", n)
	}
	flows := flowLines(t, some.Bytes())
	if len(flows) != 1 || flows[0]["client"] != "198.18.0.1:40001" {
		t.Fatalf("-f 'tcp port 40001': got %v", verdicts(flows))
	}
	for _, f := range flowLines(t, all.Bytes()) {
		if f["client"] == "198.18.0.1:40001" && f["first_frame"] != flows[0]["first_frame"] {
			t.Errorf("first frame %v with the filter, %v without: frame numbers must be the file's", flows[0]["first_frame"], f["first_frame"])
		}
	}
	errb.Reset()
	if st := run([]string{"-f", "tcp[", file}, &some, &errb); st != exitError || !strings.Contains(errb.String(), "syntax error") {
		t.Errorf("bad filter: status %d, stderr %q", st, errb.String())
	}
}

// flowLines returns the flow objects of an ndjson report, without the
// vantage point: a live capture knows it from the link layer (which frames
// the host sent), a pcap file of Ethernet frames has to infer it and may
// not manage (a refused SYN has no handshake timing to go by).
func flowLines(t testing.TB, ndjson []byte) []map[string]any {
	t.Helper()
	var flows []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad ndjson line %q: %v", sc.Text(), err)
		}
		if m["type"] == "flow" {
			delete(m, "vantage_why")
			delete(m, "vantage")
			flows = append(flows, m)
		}
	}
	return flows
}

// verdicts is the part of each flow that must not depend on how it was
// captured: tuple, incarnation, class, flags, active closer.
func verdicts(flows []map[string]any) []string {
	var out []string
	for _, f := range flows {
		out = append(out, fmt.Sprintf("%v -> %v #%v %v %v closer=%v", f["client"], f["server"], f["incarnation"], f["class"], f["flags"], f["active_closer"]))
	}
	slices.Sort(out)
	return out
}
