package main

import (
	"os"
	"path/filepath"
	"testing"
)

// reportGoldenCaptures are the lab captures whose markdown and html
// reports are kept in testdata/golden as NAME.md and NAME.html, checked by
// hand when written. go test -update rewrites (or creates) them.
var reportGoldenCaptures = []string{"showcase.pcap", "close-wait.server.pcap", "rst-abort-client.client.pcap"}

func TestReportGolden(t *testing.T) {
	requireCapture(t)
	formats := []struct{ format, ext string }{{"markdown", ".md"}, {"html", ".html"}}
	for _, name := range reportGoldenCaptures {
		for _, f := range formats {
			t.Run(name+f.ext, func(t *testing.T) {
				arg := "../../testdata/pcaps/" + name
				if _, err := os.Stat(arg); err != nil {
					t.Skipf("capture not there: %v", err)
				}
				code, got, errOut := teardown(t, "--format", f.format, arg)
				if code != 0 {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				golden := filepath.Join("testdata", "golden", name+f.ext)
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got != string(want) {
					if err := os.WriteFile(golden+".got", []byte(got), 0o644); err != nil {
						t.Error(err)
					}
					t.Errorf("report differs from %s; got written to %s.got", golden, golden)
				} else {
					os.Remove(golden + ".got")
				}
			})
		}
	}
}
