package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

const crashChildEnv = "UNYO_SQLITE_CRASH_CHILD"

// TestKill9KeepsAcknowledgedEvents runs a child process that applies batches
// and reports each acknowledged batch on stdout, kills it with SIGKILL in the
// middle of its work, and checks that the reopened ledger holds every event
// the child saw acknowledged. (Power loss is covered by synchronous=FULL,
// which TestOpenPragmas checks; a test cannot pull the plug.)
func TestKill9KeepsAcknowledgedEvents(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9KeepsAcknowledgedEvents$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Every line the child printed was acknowledged before it was printed,
	// including lines still in the pipe when it dies.
	var (
		mu    sync.Mutex
		acked []string
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if id, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}
	}()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	deadline := time.Now().Add(30 * time.Second)
	for count() < 40 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond) // kill at a random point of a batch
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-done
	cmd.Wait()
	if len(acked) < 40 {
		t.Fatalf("child acknowledged only %d batches", len(acked))
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s.Close()
	for _, id := range acked {
		for i := range 4 {
			ok, _, err := s.EventApplied(t.Context(), fmt.Sprintf("%s-%d", id, i))
			if err != nil || !ok {
				t.Fatalf("acknowledged event %s-%d lost after kill -9 (%v)", id, i, err)
			}
		}
	}
	if n, err := s.EventCount(t.Context()); err == nil {
		t.Logf("child acknowledged %d batches before SIGKILL; the ledger holds %d events", len(acked), n)
	}
	var check string
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check = %q, %v", check, err)
	}
	// The ledger keeps working where the child stopped.
	if _, err := s.ApplyEvents(t.Context(), []incident.Event{ledgertest.Event("after", "n0/ping", incident.Minor, 0)}); err != nil {
		t.Errorf("ApplyEvents after recovery: %v", err)
	}
}

// crashChild applies batches of 4 events forever, printing each
// acknowledged batch, until it is killed.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for b := 0; ; b++ {
		id := fmt.Sprintf("b%d", b)
		var evs []incident.Event
		for i := range 4 {
			evs = append(evs, ledgertest.Event(fmt.Sprintf("%s-%d", id, i), fmt.Sprintf("n%d/ping", (b+i)%7), incident.Minor, 0))
		}
		if _, err := s.ApplyEvents(ctx, evs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println("acked " + id)
	}
}
