package main

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

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
// The analyzer streams and keeps no packets, hence the second pass; a
// frame is selected by its input, its Wireshark frame number and its
// 5-tuple (report.Evidence.Match). The record reader below numbers frames
// as capture.Reader does (pcap records; pcapng Enhanced, Simple and
// obsolete Packet Blocks, and the other record blocks Wireshark counts)
// but, unlike it, stops at the first corrupt record of an input.
func writeEvidence(path string, inputs []string, ev *report.Evidence) (frames int, err error) {
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
	var dec reassembly.Decoder
	var seg reassembly.Segment
	for i, name := range inputs {
		err := eachFrame(name, func(fr *rawFrame) error {
			res := dec.Decode(fr.link, fr.data, &seg)
			if res.Status != reassembly.StatusTCP {
				return nil
			}
			k, _ := reassembly.KeyOf(&seg)
			comment, ok := ev.Match(i, fr.number, fr.at, k)
			if !ok {
				return nil
			}
			intf := report.Sanitize(fmt.Sprintf("%s#%d", name, fr.iface))
			id, seen := ids[[2]int{i, fr.iface}]
			if !seen {
				ni := pcapgo.NgInterface{Name: intf, LinkType: layers.LinkType(fr.link), SnapLength: fr.snaplen}
				if ng == nil {
					ng, err = pcapgo.NewNgWriterInterface(bw, ni, pcapgo.NgWriterOptions{
						SectionInfo: pcapgo.NgSectionInfo{Application: "teardown --write-pcap"},
					})
					if err != nil {
						return err
					}
					id = 0
				} else if id, err = ng.AddInterface(ni); err != nil {
					return err
				}
				ids[[2]int{i, fr.iface}] = id
			}
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, fr.at), CaptureLength: len(fr.data),
				Length: max(fr.origLen, len(fr.data)), InterfaceIndex: id}
			var opts pcapgo.NgPacketOptions
			if comment != "" {
				if len(comment) > 60000 { // an option's length is 16 bits
					comment = comment[:60000]
				}
				opts.Comments = []string{comment}
			}
			frames++
			return ng.WritePacketWithOptions(ci, fr.data, opts)
		})
		if err != nil {
			return frames, fmt.Errorf("writing evidence from %s: %w", name, err)
		}
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

// rawFrame is one captured frame as read from a file.
type rawFrame struct {
	number  int64 // Wireshark frame number, from 1
	at      int64 // Unix ns
	link    reassembly.LinkType
	iface   int
	snaplen uint32
	origLen int
	data    []byte
}

// eachFrame calls fn for every frame of a pcap or pcapng file (gzip
// compressed or not), numbering frames the way Wireshark does.
func eachFrame(name string, fn func(*rawFrame) error) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<20)
	}
	magic, err := br.Peek(4)
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint32(magic) == 0x0a0d0d0a {
		return eachPcapng(br, fn)
	}
	return eachPcap(br, fn)
}

func eachPcap(r io.Reader, fn func(*rawFrame) error) error {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return err
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nanos, recHdr := false, 16
	switch binary.BigEndian.Uint32(h[0:4]) {
	case 0xa1b2c3d4:
		bo = binary.BigEndian
	case 0xd4c3b2a1:
	case 0xa1b23c4d:
		bo, nanos = binary.BigEndian, true
	case 0x4d3cb2a1:
		nanos = true
	case 0xa1b2cd34:
		bo, recHdr = binary.BigEndian, 24
	case 0x34cdb2a1:
		recHdr = 24
	default:
		return errors.New("not a pcap or pcapng file")
	}
	fr := rawFrame{snaplen: bo.Uint32(h[16:20]), link: reassembly.LinkType(bo.Uint32(h[20:24]) & 0xffff)}
	hdr := make([]byte, recHdr)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		caplen := bo.Uint32(hdr[8:12])
		if caplen > 256<<10 {
			return nil // corrupt from here; capture.Reader warned about it
		}
		data := make([]byte, caplen)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil
		}
		fr.number++
		frac := int64(bo.Uint32(hdr[4:8]))
		if !nanos {
			frac *= 1000
		}
		fr.at = int64(bo.Uint32(hdr[0:4]))*1e9 + frac
		fr.origLen = int(bo.Uint32(hdr[12:16]))
		fr.data = data
		if err := fn(&fr); err != nil {
			return err
		}
	}
}

// ngIface is a pcapng interface: link type, snap length, timestamp units.
type ngIface struct {
	link     reassembly.LinkType
	snaplen  uint32
	mul, div uint64 // power-of-ten resolution: ts*mul/div ns
	shift    uint   // power-of-two resolution: ts*1e9>>shift
	binary   bool
	offset   int64
}

func (ifc *ngIface) ns(ts uint64) int64 {
	if ifc.binary {
		sec := ts >> ifc.shift
		hi, lo := bits.Mul64(ts&(1<<ifc.shift-1), 1e9)
		frac := lo>>ifc.shift | hi<<(64-ifc.shift)
		if ifc.shift == 0 {
			frac = 0
		}
		return int64(sec*1e9+frac) + ifc.offset
	}
	return int64(ts*ifc.mul/ifc.div) + ifc.offset
}

func eachPcapng(r io.Reader, fn func(*rawFrame) error) error {
	var bo binary.ByteOrder = binary.LittleEndian
	var ifaces []ngIface
	var number, lastAt int64
	var h [8]byte
	for {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		typ := bo.Uint32(h[0:4])
		if binary.BigEndian.Uint32(h[0:4]) == 0x0a0d0d0a {
			typ = 0x0a0d0d0a
		}
		var body []byte
		if typ == 0x0a0d0d0a {
			var m [4]byte
			if _, err := io.ReadFull(r, m[:]); err != nil {
				return nil
			}
			if binary.BigEndian.Uint32(m[:]) == 0x1a2b3c4d {
				bo = binary.BigEndian
			} else {
				bo = binary.LittleEndian
			}
			total := bo.Uint32(h[4:8])
			if total < 16 || total%4 != 0 || total > 16<<20 {
				return nil
			}
			rest := make([]byte, total-12)
			if _, err := io.ReadFull(r, rest); err != nil {
				return nil
			}
			ifaces = ifaces[:0]
			continue
		}
		total := bo.Uint32(h[4:8])
		if total < 12 || total%4 != 0 || total > 16<<20 {
			return nil
		}
		body = make([]byte, total-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil
		}
		body = body[:len(body)-4] // trailing length
		switch typ {
		case 1: // Interface Description Block
			ifaces = append(ifaces, parseIDB(bo, body))
		case 2, 3, 6: // Packet Block, Simple Packet Block, Enhanced Packet Block
			number++
			fr := rawFrame{number: number}
			switch typ {
			case 6, 2:
				if len(body) < 20 {
					continue
				}
				id := int(bo.Uint32(body[0:4]))
				if typ == 2 {
					id = int(bo.Uint16(body[0:2]))
				}
				if id >= len(ifaces) {
					continue
				}
				ts := uint64(bo.Uint32(body[4:8]))<<32 | uint64(bo.Uint32(body[8:12]))
				caplen := int(bo.Uint32(body[12:16]))
				if caplen > len(body)-20 {
					continue
				}
				fr.iface, fr.at, fr.origLen, fr.data = id, ifaces[id].ns(ts), int(bo.Uint32(body[16:20])), body[20:20+caplen]
			case 3:
				if len(body) < 4 || len(ifaces) == 0 {
					continue
				}
				fr.origLen = int(bo.Uint32(body[0:4]))
				caplen := min(fr.origLen, len(body)-4)
				if sn := ifaces[0].snaplen; sn != 0 && caplen > int(sn) {
					caplen = int(sn)
				}
				fr.at, fr.data = lastAt, body[4:4+caplen]
			}
			lastAt = fr.at
			fr.link, fr.snaplen = ifaces[fr.iface].link, ifaces[fr.iface].snaplen
			if err := fn(&fr); err != nil {
				return err
			}
		case 0x00000009, 0x00000204, 0x00000208, 0x00000216, 0x00000217, 0x00000221, 0x00000222, 0x00000bad, 0x40000bad:
			number++ // records Wireshark numbers as frames
		}
	}
}

func parseIDB(bo binary.ByteOrder, body []byte) ngIface {
	ifc := ngIface{mul: 1000, div: 1, link: reassembly.LinkEthernet}
	if len(body) < 8 {
		return ifc
	}
	ifc.link = reassembly.LinkType(bo.Uint16(body[0:2]))
	ifc.snaplen = bo.Uint32(body[4:8])
	for o := body[8:]; len(o) >= 4; {
		code, n := bo.Uint16(o[0:2]), int(bo.Uint16(o[2:4]))
		if code == 0 || 4+n > len(o) {
			break
		}
		v := o[4 : 4+n]
		switch {
		case code == 9 && n == 1:
			exp := uint(v[0] & 0x7f)
			switch {
			case v[0]&0x80 != 0 && exp <= 63:
				ifc.binary, ifc.shift = true, exp
			case v[0]&0x80 == 0 && exp <= 9:
				ifc.mul, ifc.div = pow10(9-exp), 1
			case v[0]&0x80 == 0 && exp <= 19:
				ifc.mul, ifc.div = 1, pow10(exp-9)
			}
		case code == 14 && n == 8:
			ifc.offset = int64(bo.Uint64(v)) * 1e9
		}
		o = o[4+(n+3)&^3:]
	}
	return ifc
}

func pow10(n uint) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}
