package capture

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/reassembly"
)

// A pcapng Interface Statistics Block's isb_endtime tells when the capture
// stopped, after the last frame.
func TestInterfaceStatisticsEndTime(t *testing.T) {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&buf, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 262144, TimestampResolution: 9},
		pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := time.Unix(1700000000, 123)
	frame := make([]byte, 60)
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: first, CaptureLength: 60, Length: 60}, frame); err != nil {
		t.Fatal(err)
	}
	end := first.Add(90 * time.Second)
	if err := w.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{LastUpdate: end, EndTime: end,
		PacketsReceived: pcapgo.NgNoValue64, PacketsDropped: pcapgo.NgNoValue64}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReaders([]Source{{Name: "isb.pcapng", R: &buf}}, func(w Warning) { t.Errorf("warning: %s", w) })
	if err != nil {
		t.Fatal(err)
	}
	var seg reassembly.Segment
	for r.Next(&seg) {
	}
	in := r.Inputs()[0]
	if in.EndAt != end.UnixNano() || in.Frames != 1 || in.LastAt != first.UnixNano() {
		t.Errorf("EndAt %d, frames %d, last %d; want %d, 1, %d", in.EndAt, in.Frames, in.LastAt, end.UnixNano(), first.UnixNano())
	}
}
