//go:build linux

package netlab

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
)

func TestProcAddr(t *testing.T) {
	if got := procAddr(netip.MustParseAddrPort("198.18.0.1:40000")); got != "010012C6:9C40" {
		t.Errorf("procAddr = %s", got)
	}
}

// The generator's self-check on the committed captures: the flags
// rst-in-time-wait and zero-window are decided by the packets, so the
// committed expectation passes and any flag set that differs fails.
func TestSelfCheckNewFlags(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "pcaps")
	for _, tc := range []struct {
		capture string
		spec    FlowSpec
		flag    string
	}{
		{"rst-in-time-wait.client.pcap", FlowSpec{Class: "lost-ack", Flags: []string{"fin-retransmit", "rst-in-time-wait"}}, "rst-in-time-wait"},
		{"rst-in-time-wait.server.pcap", FlowSpec{Class: "lost-ack", Flags: []string{"fin-retransmit", "rst-in-time-wait"}}, "rst-in-time-wait"},
		{"zero-window.client.pcap", FlowSpec{Class: "four-way", Flags: []string{"zero-window"}}, "zero-window"},
		{"zero-window.server.pcap", FlowSpec{Class: "four-way", Flags: []string{"zero-window"}}, "zero-window"},
		{"lost-ack.client.pcap", FlowSpec{Class: "lost-ack", Flags: []string{"fin-retransmit"}}, ""},
		{"rst-after-close.client.pcap", FlowSpec{Class: "rst-after-close", Flags: []string{"half-close"}}, ""},
	} {
		pkts, err := ReadCapture(filepath.Join(dir, tc.capture))
		if err != nil {
			t.Fatal(err)
		}
		f := tc.spec
		f.Client, f.Server, f.Incarnation = cli4(40000), srv4, 1
		vantage := "client"
		if filepath.Ext(tc.capture[:len(tc.capture)-len(".pcap")]) == ".server" {
			vantage = "server"
		}
		ip := flowPackets(pkts, &f, []*FlowSpec{&f})
		fe := FlowExpect{Class: f.Class, Flags: f.Flags}
		if err := ip.check(&fe, vantage); err != nil {
			t.Errorf("%s: %v", tc.capture, err)
		}
		if tc.flag != "" {
			fe.Flags = slices.DeleteFunc(slices.Clone(f.Flags), func(s string) bool { return s == tc.flag })
			if err := ip.check(&fe, vantage); err == nil {
				t.Errorf("%s: accepted without flag %s", tc.capture, tc.flag)
			}
		}
		for _, extra := range []string{"rst-in-time-wait", "zero-window"} {
			if slices.Contains(f.Flags, extra) {
				continue
			}
			fe.Flags = append(slices.Clone(f.Flags), extra)
			if err := ip.check(&fe, vantage); err == nil {
				t.Errorf("%s: accepted with flag %s", tc.capture, extra)
			}
		}
	}
	// The scenario-specific checks on the committed captures.
	for _, v := range []string{"client", "server"} {
		for _, name := range []string{"rst-in-time-wait", "zero-window"} {
			pkts, err := ReadCapture(filepath.Join(dir, name+"."+v+".pcap"))
			if err != nil {
				t.Fatal(err)
			}
			f := FlowSpec{Client: cli4(40000), Server: srv4, Incarnation: 1}
			ip := flowPackets(pkts, &f, []*FlowSpec{&f})
			if name == "rst-in-time-wait" {
				err = verifyRSTInTimeWait(&ip, v)
			} else {
				err = verifyZeroWindow(&ip, 1)
			}
			if err != nil {
				t.Errorf("%s.%s: %v", name, v, err)
			}
		}
	}
}
