package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// stdinIsTerminal reports whether a person started the server by hand:
// stdin is a terminal only if it answers the terminal ioctl TCGETS. A
// character device such as /dev/null does not.
func stdinIsTerminal() bool {
	_, err := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	return err == nil
}
