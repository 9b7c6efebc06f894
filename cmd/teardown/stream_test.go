package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStreamMatchesWireshark checks the API's promise that a flow's stream
// is the tcp.stream Wireshark gives its first frame, on every lab capture.
func TestStreamMatchesWireshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping: tshark not installed (Debian package tshark)")
	}
	for _, p := range pcaps(t) {
		if strings.HasSuffix(p, ".json") {
			continue
		}
		t.Run(filepath.Base(p), func(t *testing.T) {
			out, err := exec.Command("tshark", "-r", p, "-T", "fields", "-e", "frame.number", "-e", "tcp.stream").Output()
			if err != nil {
				t.Fatalf("tshark -r %s: %v", p, err)
			}
			streamOf := map[int64]int{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 2 {
					continue
				}
				n, err1 := strconv.ParseInt(f[0], 10, 64)
				s, err2 := strconv.Atoi(f[1])
				if err1 == nil && err2 == nil {
					streamOf[n] = s
				}
			}
			var rep, errb bytes.Buffer
			if st := run([]string{"-F", "ndjson", p}, &rep, &errb); st != 0 {
				t.Fatalf("teardown: status %d: %s", st, errb.String())
			}
			sc = bufio.NewScanner(&rep)
			sc.Buffer(make([]byte, 1<<20), 1<<24)
			flows := 0
			for sc.Scan() {
				var fl struct {
					Type       string `json:"type"`
					ID         int    `json:"id"`
					Stream     int    `json:"stream"`
					FirstFrame int64  `json:"first_frame"`
				}
				if err := json.Unmarshal(sc.Bytes(), &fl); err != nil {
					t.Fatal(err)
				}
				if fl.Type != "flow" {
					continue
				}
				flows++
				if ws, ok := streamOf[fl.FirstFrame]; !ok || ws != fl.Stream {
					t.Errorf("flow %d: stream %d, Wireshark's tcp.stream of its first frame %d is %d (found %v)", fl.ID, fl.Stream, fl.FirstFrame, ws, ok)
				}
			}
			if flows == 0 {
				t.Fatal("no flows")
			}
		})
	}
}
