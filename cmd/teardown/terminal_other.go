//go:build !linux

package main

import "os"

// isTerminalFile reports whether f is a character device, as a terminal
// is (so is /dev/null, which is taken for one here).
func isTerminalFile(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
