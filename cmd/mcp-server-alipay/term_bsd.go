//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdinIsTerminal reports whether a person started the server by hand:
// stdin is a terminal only if it answers the terminal ioctl TIOCGETA. A
// character device such as /dev/null does not.
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TIOCGETA)
	return err == nil
}
