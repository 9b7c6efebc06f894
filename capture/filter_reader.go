package capture

// SetFilter makes the Reader skip the frames f rejects, as tcpdump -r FILE
// EXPR would: they keep their frame numbers and are counted in
// Input.Frames and Input.Filtered, not decoded. Call it before the first
// Next. A frame of a link type the filter cannot be compiled for is
// skipped; f.Err tells why.
func (r *Reader) SetFilter(f *Filter) { r.filter = f }
