package udpbatch

import (
	"os"
	"syscall"
	"testing"
)

// TestFavourRaisesOnlyItsThread: the reader's thread gets ReaderNice; the
// process's other threads keep theirs.
func TestFavourRaisesOnlyItsThread(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs CAP_SYS_NICE (root)")
	}
	before, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		tid, prio int
		err       error
	}
	ch := make(chan res)
	go func() {
		err := Favour()
		tid := syscall.Gettid()
		// The raw getpriority returns 20-nice.
		p, perr := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err == nil {
			err = perr
		}
		ch <- res{tid, 20 - p, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.prio != ReaderNice {
		t.Fatalf("reader thread nice %d, want %d", r.prio, ReaderNice)
	}
	after, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("the process's main thread changed priority: %d → %d", before, after)
	}
}
