//go:build unix

package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// silenceStdout points file descriptor 1 at /dev/null (Ginkgo's default
// reporter writes there and cannot be redirected) and returns a writer on
// the original stdout plus a function that restores it. When w is not the
// process's stdout (tests), nothing is redirected.
func silenceStdout(w io.Writer) (io.Writer, func()) {
	if w != os.Stdout {
		return w, func() {}
	}
	saved, err := unix.Dup(1)
	if err != nil {
		return w, func() {}
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		unix.Close(saved)
		return w, func() {}
	}
	if err := unix.Dup2(int(null.Fd()), 1); err != nil {
		null.Close()
		unix.Close(saved)
		return w, func() {}
	}
	orig := os.NewFile(uintptr(saved), "stdout")
	return orig, func() {
		_ = unix.Dup2(saved, 1)
		null.Close()
		orig.Close()
	}
}
