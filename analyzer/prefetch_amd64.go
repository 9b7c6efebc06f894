package analyzer

import "unsafe"

// prefetch asks the processor to bring the cache line at p into the cache,
// without waiting for it.
//
//go:noescape
func prefetch(p unsafe.Pointer)
