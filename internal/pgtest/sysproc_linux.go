package pgtest

import "syscall"

// sysProcAttr runs postgres as cred, in its own process group, and kills it
// if the test binary dies first.
func sysProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
