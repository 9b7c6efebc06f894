package capture_test

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"teardown/capture"
	"teardown/reassembly"
)

// A pcap with one raw-IPv4 TCP SYN, written by hand.
func examplePcap() []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, uint32(reassembly.LinkRaw))
	pkt := []byte{
		0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2, // IPv4
		0x9c, 0x40, 0, 80, 0, 0, 0x03, 0xe8, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0, // TCP SYN
	}
	b = binary.LittleEndian.AppendUint32(b, 1714564800)
	b = binary.LittleEndian.AppendUint32(b, 250000)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pkt)))
	return append(b, pkt...)
}

func ExampleOpenReaders() {
	srcs := []capture.Source{{Name: "syn.pcap", R: bytes.NewReader(examplePcap())}}
	r, err := capture.OpenReaders(srcs, func(w capture.Warning) { fmt.Println("warning:", w) })
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	var seg reassembly.Segment
	for r.Next(&seg) {
		src := reassembly.AddrPort{Addr: seg.Src, Port: seg.SrcPort}
		dst := reassembly.AddrPort{Addr: seg.Dst, Port: seg.DstPort}
		fmt.Printf("frame %d: %v > %v %v seq %d\n", seg.Frame, src, dst, seg.Flags, seg.Seq)
	}
	if err := r.Err(); err != nil {
		fmt.Println(err)
	}
	in := r.Inputs()[0]
	fmt.Printf("%s: %s, %v, %d frames, %d TCP\n", in.Name, in.Format, in.LinkTypes, in.Frames, in.TCP)
	// Output:
	// frame 1: 192.0.2.1:40000 > 192.0.2.2:80 S seq 1000
	// syn.pcap: pcap, [Raw IP], 1 frames, 1 TCP
}
