//go:build !amd64

package analyzer

import "unsafe"

// prefetch does nothing here: only amd64 has the instruction written
// out (prefetch_amd64.s).
func prefetch(unsafe.Pointer) {}
