//go:build !linux

package capture

import (
	"fmt"
	"runtime"

	"teardown/reassembly"
)

// Live is a live capture; it is supported only on Linux.
type Live struct{}

// OpenLive fails: live capture is not supported on this system.
func OpenLive(cfg LiveConfig, warn func(Warning)) (*Live, error) {
	return nil, fmt.Errorf("live capture is not supported on %s", runtime.GOOS)
}

// Next returns ErrStopped.
func (l *Live) Next(seg *reassembly.Segment) (bool, error) { return false, ErrStopped }

// Interfaces returns nothing.
func (l *Live) Interfaces() []Interface { return nil }

// Stop does nothing.
func (l *Live) Stop() {}

// Stats returns zeros.
func (l *Live) Stats() (LiveStats, error) { return LiveStats{}, nil }

// Input returns an empty description.
func (l *Live) Input() Input { return Input{} }

// Close does nothing.
func (l *Live) Close() error { return nil }
