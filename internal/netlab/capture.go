//go:build linux

package netlab

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// Format is the file format and link type of a capture.
type Format uint8

// The formats.
const (
	PcapEthernet   Format = iota // pcap, LINKTYPE_ETHERNET, µs timestamps
	PcapNGEthernet               // pcapng, one Ethernet interface, ns timestamps
	PcapSLL2                     // pcap, LINKTYPE_LINUX_SLL2 of every interface of the namespace (like tcpdump -i any)
	PcapVLAN                     // pcap, Ethernet with 802.1Q tags: the router's mirror of its server leg
)

// VLANID is the 802.1Q VLAN the router's mirror tags its copies with.
const VLANID = 20

// Capture writes the TCP frames seen at one point of the topology to a file
// with their kernel timestamps. Frames that are not TCP are not written, so
// frame numbers are stable run to run.
type Capture struct {
	Path    string
	format  Format
	snaplen int

	mu    sync.Mutex
	f     *os.File
	buf   *bufio.Writer
	pw    *pcapgo.Writer
	ngw   *pcapgo.NgWriter
	count int
	err   error

	tp   *afpacket.TPacket
	fd   int // raw AF_PACKET socket for SLL2
	stop chan struct{}
	done chan struct{}
}

func createCapture(path string, format Format, snaplen int) (*Capture, error) {
	if snaplen <= 0 {
		snaplen = 65535
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating capture file: %w", err)
	}
	c := &Capture{Path: path, format: format, snaplen: snaplen, f: f, buf: bufio.NewWriter(f), fd: -1,
		stop: make(chan struct{}), done: make(chan struct{})}
	switch format {
	case PcapNGEthernet:
		c.ngw, err = pcapgo.NewNgWriterInterface(c.buf, pcapgo.NgInterface{
			Name: EndpointIf, LinkType: layers.LinkTypeEthernet, SnapLength: uint32(snaplen),
			TimestampResolution: 9, OS: "Linux",
		}, pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "teardown netlab"}})
	case PcapSLL2:
		c.pw = pcapgo.NewWriter(c.buf)
		err = c.pw.WriteFileHeader(uint32(snaplen), LinkSLL2)
	default:
		c.pw = pcapgo.NewWriter(c.buf)
		err = c.pw.WriteFileHeader(uint32(snaplen), layers.LinkTypeEthernet)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing header of %s: %w", path, err)
	}
	return c, nil
}

// write appends one frame; orig is the frame's length on the wire.
func (c *Capture) write(data []byte, ts time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: ts, Length: len(data), CaptureLength: min(len(data), c.snaplen)}
	var err error
	if c.ngw != nil {
		err = c.ngw.WritePacket(ci, data[:ci.CaptureLength])
	} else {
		err = c.pw.WritePacket(ci, data[:ci.CaptureLength])
	}
	if err != nil {
		c.err = fmt.Errorf("writing %s: %w", c.Path, err)
		return
	}
	c.count++
}

// writeTagged writes an Ethernet frame with an 802.1Q tag inserted.
func (c *Capture) writeTagged(frame []byte, ts time.Time) {
	if len(frame) < 14 {
		return
	}
	t := make([]byte, 0, len(frame)+4)
	t = append(t, frame[:12]...)
	t = append(t, 0x81, 0x00, 0, 0)
	binary.BigEndian.PutUint16(t[14:16], VLANID)
	t = append(t, frame[12:]...)
	c.write(t, ts)
}

// Frames returns the number of frames written so far.
func (c *Capture) Frames() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// StartCapture captures the TCP frames of one interface of a node's
// namespace (PcapEthernet or PcapNGEthernet), or of every interface of it
// (PcapSLL2). snaplen 0 means whole frames.
func (l *Lab) StartCapture(n Node, ifname, path string, format Format, snaplen int) (*Capture, error) {
	c, err := createCapture(path, format, snaplen)
	if err != nil {
		return nil, err
	}
	err = l.Do(n, func() error {
		if format == PcapSLL2 {
			return c.openSLL2()
		}
		tp, err := openTPacket(ifname)
		if err != nil {
			return err
		}
		c.tp = tp
		return nil
	})
	if err != nil {
		c.f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("starting capture %s in %s: %w", path, l.NSName(n), err)
	}
	if format == PcapSLL2 {
		go c.loopSLL2()
	} else {
		go c.loopTPacket()
	}
	return c, nil
}

// StartMirror creates the file for a router mirror (PcapVLAN); hand it to
// Router.SetMirror.
func (l *Lab) StartMirror(path string, snaplen int) (*Capture, error) {
	c, err := createCapture(path, PcapVLAN, snaplen)
	if err != nil {
		return nil, err
	}
	close(c.done)
	return c, nil
}

func (c *Capture) loopTPacket() {
	defer close(c.done)
	stopping := false
	for {
		if !stopping {
			select {
			case <-c.stop:
				stopping = true
			default:
			}
		}
		data, ci, err := c.tp.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			if stopping {
				return // drained
			}
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("capturing for %s: %w", c.Path, err)
			c.mu.Unlock()
			return
		}
		if _, err := DecodeFrame(LinkEthernet, data); err != nil {
			continue
		}
		c.write(data, ci.Timestamp)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openSLL2 opens a cooked AF_PACKET socket on every interface of the
// current namespace. gopacket's afpacket does not report the packet type
// (incoming/outgoing) that SLL2 records, so this one uses recvmsg directly.
func (c *Capture) openSLL2() error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("opening AF_PACKET socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: int64(pollTimeout / time.Microsecond)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("binding AF_PACKET socket: %w", err)
	}
	c.fd = fd
	return nil
}

func (c *Capture) loopSLL2() {
	defer close(c.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	stopping := false
	for {
		if !stopping {
			select {
			case <-c.stop:
				stopping = true
			default:
			}
		}
		n, oobn, _, from, err := unix.Recvmsg(c.fd, buf, oob, unix.MSG_TRUNC)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			if stopping {
				return
			}
			continue
		}
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("capturing for %s: %w", c.Path, err)
			c.mu.Unlock()
			return
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok {
			continue
		}
		ts := time.Now()
		if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, m := range msgs {
				if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					ts = time.Unix(sec, nsec)
				}
			}
		}
		n = min(n, len(buf))
		// LINKTYPE_LINUX_SLL2 header, 20 bytes, all fields big-endian.
		hdr := make([]byte, 20, 20+n)
		binary.BigEndian.PutUint16(hdr[0:2], htons(ll.Protocol))
		binary.BigEndian.PutUint32(hdr[4:8], uint32(ll.Ifindex))
		binary.BigEndian.PutUint16(hdr[8:10], ll.Hatype)
		hdr[10] = ll.Pkttype
		hdr[11] = ll.Halen
		copy(hdr[12:20], ll.Addr[:min(int(ll.Halen), 8)])
		frame := append(hdr, buf[:n]...)
		if _, err := DecodeFrame(LinkSLL2, frame); err != nil {
			continue
		}
		c.write(frame, ts)
	}
}

// Stop finishes the capture: it reads what the kernel still holds, then
// flushes and closes the file.
func (c *Capture) Stop() error {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	<-c.done
	if c.tp != nil {
		c.tp.Close()
		c.tp = nil
	}
	if c.fd >= 0 {
		unix.Close(c.fd)
		c.fd = -1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return c.err
	}
	if c.ngw != nil {
		if err := c.ngw.Flush(); err != nil && c.err == nil {
			c.err = fmt.Errorf("flushing %s: %w", c.Path, err)
		}
	}
	if err := c.buf.Flush(); err != nil && c.err == nil {
		c.err = fmt.Errorf("flushing %s: %w", c.Path, err)
	}
	if err := c.f.Close(); err != nil && c.err == nil {
		c.err = fmt.Errorf("closing %s: %w", c.Path, err)
	}
	c.f = nil
	return c.err
}

// openTPacket opens a TPACKET_V2 ring on ifname in the calling thread's
// namespace: V2 hands over each frame at once, where V3 waits for a block
// to fill or time out.
func openTPacket(ifname string) (*afpacket.TPacket, error) {
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(ifname),
		afpacket.OptTPacketVersion(afpacket.TPacketVersion2),
		afpacket.OptPollTimeout(pollTimeout),
		afpacket.OptFrameSize(1<<12),
		afpacket.OptBlockSize(1<<16),
		afpacket.OptNumBlocks(64),
	)
	if err != nil {
		return nil, fmt.Errorf("opening AF_PACKET on %s: %w", ifname, err)
	}
	return tp, nil
}
