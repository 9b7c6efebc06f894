package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"golang.org/x/net/bpf"

	"teardown/reassembly"
)

// Filter is a capture filter in tcpdump syntax (pcap-filter(7)), compiled
// to classic BPF. On a live capture its program for Ethernet frames runs in
// the kernel, attached to the AF_PACKET socket; on the frames of a file,
// Match runs the program for the file's link type with golang.org/x/net/bpf's
// VM.
//
// Compiling: no pure-Go compiler of the whole language could be used.
// github.com/pgaskin/go-pcap-filter (libpcap's compiler built to
// WebAssembly and translated to Go) is not served by the module proxy, and
// github.com/packetcap/go-pcap/filter miscompiles silently ("tcp and host
// H" keeps UDP, "ip6" gives an invalid program, "vlan" and "tcp[13]" are
// ignored). So an expression is compiled by libpcap itself, through
// `tcpdump -y LINKTYPE -ddd EXPR`: exactly what tcpdump would do with it,
// without linking libpcap into teardown. The default filter (TCP only) is
// built in and needs no tcpdump.
//
// A Filter is not safe for concurrent use.
type Filter struct {
	expr    string
	builtin bool // the default filter: no tcpdump needed
	progs   map[reassembly.LinkType]*filterProg
}

type filterProg struct {
	raw []bpf.RawInstruction
	vm  *bpf.VM
	err error
}

// DefaultFilterExpr is the filter used when none is given: TCP over IPv4 or
// IPv6.
const DefaultFilterExpr = "tcp"

// tcpEthernet is `tcpdump -dd tcp` for Ethernet (libpcap 1.10): TCP over
// IPv4, or over IPv6 directly or after a fragment header.
var tcpEthernet = []bpf.RawInstruction{
	{Op: 0x28, Jt: 0, Jf: 0, K: 0x0000000c},
	{Op: 0x15, Jt: 0, Jf: 2, K: 0x00000800},
	{Op: 0x30, Jt: 0, Jf: 0, K: 0x00000017},
	{Op: 0x15, Jt: 6, Jf: 7, K: 0x00000006},
	{Op: 0x15, Jt: 0, Jf: 6, K: 0x000086dd},
	{Op: 0x30, Jt: 0, Jf: 0, K: 0x00000014},
	{Op: 0x15, Jt: 3, Jf: 0, K: 0x00000006},
	{Op: 0x15, Jt: 0, Jf: 3, K: 0x0000002c},
	{Op: 0x30, Jt: 0, Jf: 0, K: 0x00000036},
	{Op: 0x15, Jt: 0, Jf: 1, K: 0x00000006},
	{Op: 0x6, Jt: 0, Jf: 0, K: 0x00040000},
	{Op: 0x6, Jt: 0, Jf: 0, K: 0x00000000},
}

// DefaultFilter returns the filter used when none is given: TCP only. Its
// Ethernet program is built in; for other link types, Match keeps every
// frame (the decoder skips what is not TCP).
func DefaultFilter() *Filter {
	f := &Filter{expr: DefaultFilterExpr, builtin: true, progs: map[reassembly.LinkType]*filterProg{}}
	p := &filterProg{raw: tcpEthernet}
	p.vm, p.err = newVM(tcpEthernet)
	f.progs[reassembly.LinkEthernet] = p
	return f
}

// IsDefault reports whether f is the default filter.
func (f *Filter) IsDefault() bool { return f.builtin }

// CompileFilter compiles a tcpdump filter expression such as "tcp port
// 8080" or "host 198.18.0.1 and tcp" for Ethernet, which also checks it.
// Programs for other link types are compiled when Match first needs them.
func CompileFilter(expr string) (*Filter, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty filter expression")
	}
	f := &Filter{expr: expr, progs: map[reassembly.LinkType]*filterProg{}}
	if p := f.prog(reassembly.LinkEthernet); p.err != nil {
		return nil, p.err
	}
	return f, nil
}

// String returns the expression.
func (f *Filter) String() string { return f.expr }

// Program returns the program for a link type, compiling it if needed.
func (f *Filter) Program(link reassembly.LinkType) ([]bpf.RawInstruction, error) {
	p := f.prog(link)
	return p.raw, p.err
}

func (f *Filter) prog(link reassembly.LinkType) *filterProg {
	if p := f.progs[link]; p != nil {
		return p
	}
	p := &filterProg{}
	if f.builtin {
		p.raw = []bpf.RawInstruction{{Op: 0x6, K: 0x40000}} // ret #262144: the decoder skips non-TCP
	} else {
		p.raw, p.err = compileExpr(f.expr, link)
	}
	if p.err == nil {
		p.vm, p.err = newVM(p.raw)
		if p.err != nil {
			p.err = fmt.Errorf("filter %q: compiled program is invalid: %w", f.expr, p.err)
		}
	}
	f.progs[link] = p
	return p
}

func newVM(raw []bpf.RawInstruction) (*bpf.VM, error) {
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		return nil, errors.New("the program uses instructions the user-space VM does not run")
	}
	return bpf.NewVM(ins)
}

// Match reports whether the filter keeps a frame of link type link. A frame
// of a link type the filter cannot be compiled for is not kept; Err tells
// why.
func (f *Filter) Match(link reassembly.LinkType, data []byte) bool {
	p := f.prog(link)
	if p.err != nil {
		return false
	}
	n, err := p.vm.Run(data)
	return err == nil && n > 0
}

// Err returns the first error compiling the filter for a link type that
// Match met, if any.
func (f *Filter) Err() error {
	for _, p := range f.progs {
		if p.err != nil {
			return p.err
		}
	}
	return nil
}

// dltNames are libpcap's names of the link types, for tcpdump -y.
var dltNames = map[reassembly.LinkType]string{
	reassembly.LinkNull:      "NULL",
	reassembly.LinkEthernet:  "EN10MB",
	reassembly.LinkRawDLT12:  "RAW",
	reassembly.LinkRawDLT14:  "RAW",
	reassembly.LinkRaw:       "RAW",
	reassembly.LinkLoop:      "LOOP",
	reassembly.LinkLinuxSLL:  "LINUX_SLL",
	reassembly.LinkIPv4:      "IPV4",
	reassembly.LinkIPv6:      "IPV6",
	reassembly.LinkLinuxSLL2: "LINUX_SLL2",
}

// tcpdumpPath is the tcpdump that compiles filters; tests may change it.
var tcpdumpPath = "tcpdump"

// compileExpr compiles expr for a link type with libpcap, through tcpdump.
func compileExpr(expr string, link reassembly.LinkType) ([]bpf.RawInstruction, error) {
	dlt, ok := dltNames[link]
	if !ok {
		return nil, fmt.Errorf("filter %q: link type %s is not supported", expr, link)
	}
	path, err := exec.LookPath(tcpdumpPath)
	if err != nil {
		return nil, fmt.Errorf("compiling filter %q needs tcpdump (libpcap's compiler; no pure-Go one is available): install tcpdump, or leave out -f", expr)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, "-y", dlt, "-ddd", "--", expr)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		msg = strings.TrimPrefix(msg, "tcpdump: ")
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("filter %q: %s", expr, msg)
	}
	prog, err := parseDDD(stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("filter %q: reading tcpdump -ddd output: %w", expr, err)
	}
	return prog, nil
}

// parseDDD parses `tcpdump -ddd` output: the instruction count, then one
// "code jt jf k" line per instruction, in decimal.
func parseDDD(b []byte) ([]bpf.RawInstruction, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		return nil, errors.New("empty output")
	}
	n, err := strconv.Atoi(strings.TrimSpace(sc.Text()))
	if err != nil || n < 1 || n > maxBPFInstructions*16 {
		return nil, fmt.Errorf("bad instruction count %q", sc.Text())
	}
	prog := make([]bpf.RawInstruction, 0, n)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("bad instruction %q", sc.Text())
		}
		var v [4]uint64
		for i, s := range f {
			if v[i], err = strconv.ParseUint(s, 10, 32); err != nil {
				return nil, fmt.Errorf("bad instruction %q", sc.Text())
			}
		}
		if v[0] > 0xffff || v[1] > 0xff || v[2] > 0xff {
			return nil, fmt.Errorf("bad instruction %q", sc.Text())
		}
		prog = append(prog, bpf.RawInstruction{Op: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])})
	}
	if len(prog) != n {
		return nil, fmt.Errorf("%d instructions, the count says %d", len(prog), n)
	}
	return prog, nil
}

// maxBPFInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const maxBPFInstructions = 4096

// Linux ARPHRD device types the kernel program tells apart.
const (
	arphrdEther    = 1
	arphrdLoopback = 772
)

// kernelProgram builds the program attached to an AF_PACKET socket in
// SOCK_RAW mode: frames of Ethernet and loopback devices go through the
// filter's Ethernet program, with the returned length lowered to snaplen;
// the outgoing copy of a loopback frame is dropped (each one is seen twice
// there, as libpcap also drops it); frames of other devices (raw IP
// tunnels) are kept for Live to filter in user space.
func (f *Filter) kernelProgram(snaplen int) ([]bpf.RawInstruction, error) {
	eth, err := f.Program(reassembly.LinkEthernet)
	if err != nil {
		return nil, err
	}
	pro := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtLinkLayerType},                       // 0
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arphrdEther, SkipTrue: 5},     // 1: → 7
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: arphrdLoopback, SkipFalse: 3}, // 2: → 6
		bpf.LoadExtension{Num: bpf.ExtType},                                // 3
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4, SkipFalse: 2},              // 4: outgoing → 5, else → 7
		bpf.RetConstant{Val: 0},                                            // 5
		bpf.RetConstant{Val: uint32(snaplen)},                              // 6: not Ethernet
	}
	out := make([]bpf.RawInstruction, 0, len(pro)+len(eth))
	for _, in := range pro {
		r, err := in.Assemble()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, r := range eth {
		// BPF_RET|BPF_K with a non-zero length: keep snaplen bytes.
		if r.Op == 0x06 && r.K != 0 {
			r.K = uint32(snaplen)
		}
		out = append(out, r)
	}
	if len(out) > maxBPFInstructions {
		return nil, fmt.Errorf("filter %q: program of %d instructions is too long for the kernel", f.expr, len(out))
	}
	return out, nil
}
