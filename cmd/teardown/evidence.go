package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/capture"
	"teardown/reassembly"
	"teardown/report"
)

// writeEvidence reads the inputs a second time and writes the frames of
// the flows in ev to path as pcapng, with their original timestamps and
// link types, and each flow's verdict as a comment (opt_comment) on its
// first packet. pcapgo.NgWriter writes the comments
// (WritePacketWithOptions with NgPacketOptions.Comments) and the
// interfaces; one Interface Description Block is written per input
// interface that contributes a frame.
//
// The analyzer streams and keeps no packets, hence the second pass, with
// the same capture.Reader and filter as the first, so frame numbers and
// the frames seen are the same; a frame is selected by its input, its
// Wireshark frame number and its 5-tuple (report.Evidence.Match).
func writeEvidence(path string, inputs []string, filter *capture.Filter, ev *report.Evidence) (frames int, err error) {
	r, err := capture.Open(inputs, func(capture.Warning) {}) // the first pass reported them
	if err != nil {
		return 0, err
	}
	defer r.Close()
	if filter != nil {
		r.SetFilter(filter)
	}
	r.KeepRaw()
	out, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriter(out)
	var ng *pcapgo.NgWriter
	ids := map[[2]int]int{} // (input, interface) -> interface id in the output
	var seg reassembly.Segment
	for r.Next(&seg) {
		k, _ := reassembly.KeyOf(&seg)
		comment, ok := ev.Match(seg.File, seg.Frame, seg.At, k)
		if !ok {
			continue
		}
		fr := r.Raw()
		id, seen := ids[[2]int{seg.File, fr.Iface}]
		if !seen {
			intf := report.Sanitize(fmt.Sprintf("%s#%d", inputs[seg.File], fr.Iface))
			ni := pcapgo.NgInterface{Name: intf, LinkType: layers.LinkType(fr.Link), SnapLength: fr.Snaplen}
			if ng == nil {
				ng, err = pcapgo.NewNgWriterInterface(bw, ni, pcapgo.NgWriterOptions{
					SectionInfo: pcapgo.NgSectionInfo{Application: "teardown --write-pcap"},
				})
				if err != nil {
					return frames, fmt.Errorf("writing evidence to %s: %w", path, err)
				}
				id = 0
			} else if id, err = ng.AddInterface(ni); err != nil {
				return frames, fmt.Errorf("writing evidence to %s: %w", path, err)
			}
			ids[[2]int{seg.File, fr.Iface}] = id
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, seg.At), CaptureLength: len(fr.Data),
			Length: max(fr.Len, len(fr.Data)), InterfaceIndex: id}
		var opts pcapgo.NgPacketOptions
		if comment != "" {
			if len(comment) > 60000 { // an option's length is 16 bits
				comment = comment[:60000]
			}
			opts.Comments = []string{comment}
		}
		frames++
		if err := ng.WritePacketWithOptions(ci, fr.Data, opts); err != nil {
			return frames, fmt.Errorf("writing evidence to %s: %w", path, err)
		}
	}
	if err := r.Err(); err != nil {
		return frames, fmt.Errorf("writing evidence: %w", err)
	}
	if ng == nil {
		// No frame: still a valid, empty pcapng file.
		if ng, err = pcapgo.NewNgWriter(bw, layers.LinkTypeEthernet); err != nil {
			return 0, err
		}
	}
	if err := ng.Flush(); err != nil {
		return frames, err
	}
	return frames, bw.Flush()
}
