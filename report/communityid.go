package report

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"net/netip"

	"teardown/analyzer"
)

// ProtoTCP is the IP protocol number of TCP.
const ProtoTCP = 6

// CommunityID returns the Community ID v1 of a flow (the Corelight
// specification, https://github.com/corelight/community-id-spec, as Zeek,
// Suricata and Arkime write it): "1:" and the base64 of the SHA-1 of
//
//	seed (2 bytes, big-endian) | src IP | dst IP | proto | 0 | src port | dst port
//
// where the endpoints are ordered so that the smaller (address, port)
// comes first, which makes both directions of a flow hash alike. IPv4
// addresses are hashed as 4 bytes, IPv6 as 16. It is meant for protocols
// with ports (TCP, UDP, SCTP); ICMP's type/code mapping is not
// implemented. An address pair of mixed families gives "".
func CommunityID(seed uint16, proto uint8, src, dst netip.AddrPort) string {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	if sa.Is4() != da.Is4() || !sa.IsValid() || !da.IsValid() {
		return ""
	}
	sp, dp := src.Port(), dst.Port()
	if c := sa.Compare(da); c > 0 || (c == 0 && sp > dp) {
		sa, da, sp, dp = da, sa, dp, sp
	}
	var b bytes.Buffer
	b.Grow(2 + 16 + 16 + 2 + 4)
	binary.Write(&b, binary.BigEndian, seed)
	b.Write(sa.AsSlice())
	b.Write(da.AsSlice())
	b.WriteByte(proto)
	b.WriteByte(0)
	binary.Write(&b, binary.BigEndian, sp)
	binary.Write(&b, binary.BigEndian, dp)
	sum := sha1.Sum(b.Bytes())
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// flowCommunityID is the Community ID (seed 0) of a flow's 5-tuple.
func flowCommunityID(f *analyzer.Flow) string {
	c := netip.AddrPortFrom(f.Client.Addr.Netip(), f.Client.Port)
	s := netip.AddrPortFrom(f.Server.Addr.Netip(), f.Server.Port)
	return CommunityID(0, ProtoTCP, c, s)
}
