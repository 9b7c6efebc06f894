package capture

// KeepRaw makes the reader keep the frame behind each segment for Raw.
// Call it before the first Next. It costs a copy of every TCP frame when
// several inputs are merged.
func (r *Reader) KeepRaw() { r.keepRaw = true }

// Raw returns the frame of the segment the last successful Next returned
// (after KeepRaw; the zero Frame otherwise).
func (r *Reader) Raw() Frame { return r.raw }
