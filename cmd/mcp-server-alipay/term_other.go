//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package main

import "os"

// stdinIsTerminal reports whether a person started the server by hand. On
// systems without the termios ioctl it falls back to "stdin is a character
// device", which also holds for the null device; the price is only a hint
// line on stderr.
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
