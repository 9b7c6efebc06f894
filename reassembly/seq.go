package reassembly

// Seq is a TCP sequence number. Comparisons use serial-number arithmetic
// (RFC 1982), so they stay right across the wrap at 2^32 as long as the two
// numbers are less than 2^31 apart.
type Seq uint32

// LessThan reports whether s comes before t in sequence space.
func (s Seq) LessThan(t Seq) bool { return int32(s-t) < 0 }

// LessThanEq reports whether s comes before t or equals it.
func (s Seq) LessThanEq(t Seq) bool { return int32(s-t) <= 0 }

// GreaterThan reports whether s comes after t in sequence space.
func (s Seq) GreaterThan(t Seq) bool { return int32(s-t) > 0 }

// Add returns s advanced by n bytes of sequence space.
func (s Seq) Add(n uint32) Seq { return s + Seq(n) }

// Diff returns the signed distance from t to s (s - t).
func (s Seq) Diff(t Seq) int32 { return int32(s - t) }

// InWindow reports whether s lies in [start, start+size).
func (s Seq) InWindow(start Seq, size uint32) bool { return uint32(s-start) < size }

// Max returns the later of s and t in sequence space.
func (s Seq) Max(t Seq) Seq {
	if s.LessThan(t) {
		return t
	}
	return s
}
