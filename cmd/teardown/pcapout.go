package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"teardown/capture"
)

// pcapOut writes the frames of a live capture to pcapng (-w), one
// Interface Description Block per interface frames came from, nanosecond
// timestamps. With rotation (--rotate), a new file is started once the
// current one reaches the size, and the files are FILE.0, FILE.1, ... up to
// the count, then FILE.0 again (the oldest is overwritten).
type pcapOut struct {
	path    string
	rotate  int64 // bytes; 0: one file
	count   int   // files kept with rotation
	snaplen int
	filter  string

	n     int // index of the current file
	files int // files started
	f     *os.File
	w     *pcapgo.NgWriter
	size  int64       // bytes in the current file, written or buffered
	ids   map[int]int // interface index -> interface id in the current file
	names []string    // names of the files written, in order
}

func newPcapOut(path string, rotate int64, count, snaplen int, filter string) (*pcapOut, error) {
	p := &pcapOut{path: path, rotate: rotate, count: count, snaplen: snaplen, filter: filter}
	if err := p.open(); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pcapOut) name() string {
	if p.rotate <= 0 {
		return p.path
	}
	return p.path + "." + strconv.Itoa(p.n)
}

// open creates the next file. Its writer is made on its first frame, when
// the first interface is known.
func (p *pcapOut) open() error {
	name := p.name()
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("creating capture file: %w", err)
	}
	p.f = f
	p.w = nil
	p.size = 0
	p.ids = map[int]int{}
	p.files++
	p.names = append(p.names, name)
	return nil
}

func linkLayer(fr *capture.Frame) layers.LinkType { return layers.LinkType(fr.Link) }

// write appends one frame, rotating first if the file is full.
func (p *pcapOut) write(fr *capture.Frame) error {
	if p.rotate > 0 && p.w != nil && p.size+epbSize(len(fr.Data)) > p.rotate {
		if err := p.closeFile(); err != nil {
			return err
		}
		p.n = (p.n + 1) % p.count
		if err := p.open(); err != nil {
			return err
		}
	}
	intf := pcapgo.NgInterface{
		Name:                fr.IfName,
		LinkType:            linkLayer(fr),
		SnapLength:          uint32(p.snaplen),
		TimestampResolution: 9,
		OS:                  "Linux",
		Filter:              p.filter,
	}
	id, ok := p.ids[fr.Iface]
	if !ok {
		var err error
		if p.w == nil {
			p.w, err = pcapgo.NewNgWriterInterface(p.f, intf, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "teardown"}})
			id = 0
		} else {
			id, err = p.w.AddInterface(intf)
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", p.name(), err)
		}
		p.ids[fr.Iface] = id
		p.size += blockAllowance
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, fr.At), CaptureLength: len(fr.Data), Length: max(fr.Len, len(fr.Data)), InterfaceIndex: id}
	if err := p.w.WritePacket(ci, fr.Data); err != nil {
		return fmt.Errorf("writing %s: %w", p.name(), err)
	}
	p.size += epbSize(len(fr.Data))
	return nil
}

// blockAllowance is what a section header or interface description block
// takes, about (their options are short).
const blockAllowance = 128

// epbSize is the size of the Enhanced Packet Block of a frame.
func epbSize(n int) int64 { return 32 + int64(n+3)&^3 }

// flush makes what was written so far readable by others.
func (p *pcapOut) flush() error {
	if p.w == nil {
		return nil
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", p.name(), err)
	}
	return nil
}

func (p *pcapOut) closeFile() error {
	if p.f == nil {
		return nil
	}
	// An Interface Statistics Block per interface records when the
	// capture of this file ended (isb_endtime), which a pcap cannot say:
	// read back, a connection left half-closed gets its true duration.
	end := time.Now()
	var err error
	if p.w != nil {
		for _, id := range p.ids {
			if err == nil {
				err = p.w.WriteInterfaceStats(id, pcapgo.NgInterfaceStatistics{
					LastUpdate: end, EndTime: end,
					PacketsReceived: pcapgo.NgNoValue64, PacketsDropped: pcapgo.NgNoValue64,
				})
			}
		}
		if err != nil {
			err = fmt.Errorf("writing %s: %w", p.name(), err)
		}
	}
	if ferr := p.flush(); err == nil {
		err = ferr
	}
	if p.w == nil && err == nil {
		// No frame: still a valid, empty pcapng file.
		var w *pcapgo.NgWriter
		w, err = pcapgo.NewNgWriterInterface(p.f, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: uint32(p.snaplen), TimestampResolution: 9},
			pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "teardown"}})
		if err == nil {
			err = w.Flush()
		}
	}
	if cerr := p.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing %s: %w", p.name(), cerr)
	}
	p.f = nil
	return err
}

// Close flushes and closes the current file.
func (p *pcapOut) Close() error { return p.closeFile() }

// parseSize parses a size such as 100M, 1G, 512k or 4096 (bytes; k, M, G
// are powers of 1024, an optional B or iB is allowed).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "i")
	mul := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k', 'K':
			mul = 1 << 10
		case 'm', 'M':
			mul = 1 << 20
		case 'g', 'G':
			mul = 1 << 30
		}
		if mul > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("bad size %q (want e.g. 100M, 1G, 65536)", s)
	}
	return n * mul, nil
}
