package main

import (
	"bytes"
	"os"
	"testing"
)

// writeCounter counts the writes it gets.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// The report goes out in blocks, not one write per flow, to anything but
// a terminal, and whole.
func TestReportWrittenInBlocks(t *testing.T) {
	requireCapture(t)
	for _, format := range []string{"text", "ndjson", "json"} {
		var unbuffered bytes.Buffer
		if code := run([]string{"-F", format, "--all", "../../testdata/pcaps/showcase.pcap"}, &unbuffered, &bytes.Buffer{}); code != 0 {
			t.Fatalf("%s: exit %d", format, code)
		}
		var w writeCounter
		if code := run([]string{"-F", format, "--all", "../../testdata/pcaps/showcase.pcap"}, &w, &bytes.Buffer{}); code != 0 {
			t.Fatalf("%s: exit %d", format, code)
		}
		if want := (w.Len() + outBuffer - 1) / outBuffer; w.writes > want {
			t.Errorf("%s: %d bytes in %d writes, want %d", format, w.Len(), w.writes, want)
		}
		if !bytes.Equal(w.Bytes(), unbuffered.Bytes()) || w.Len() == 0 {
			t.Errorf("%s: the report differs from one run to the next (%d and %d bytes)", format, w.Len(), unbuffered.Len())
		}
	}
}

// /dev/null and pipes are not terminals; the far end of a pseudo-terminal
// is one (where the system lets the test open one).
func TestIsTerminalDevices(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, f := range []*os.File{w, r} {
		if isTerminal(f) {
			t.Errorf("a pipe is taken for a terminal")
		}
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is taken for a terminal")
	}
	if pts := openPTY(t); pts != nil && !isTerminal(pts) {
		t.Error("a pseudo-terminal is not taken for one")
	}
	if isTerminal(null) && !terminalIsCharDevice {
		t.Errorf("%s is taken for a terminal", os.DevNull)
	}
}
