package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	o.Dir = dir
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func msg(i int) Msg {
	return Msg{Subject: "unyo.event.test", MsgID: fmt.Sprintf("id-%d", i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}
}

func appendN(t *testing.T, s *Spool, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(context.Background(), msg(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

// readAll reads every durable entry available now.
func readAll(t *testing.T, s *Spool) []Entry {
	t.Helper()
	var out []Entry
	for {
		es, err := s.readAvailable(1000, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
	}
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.MsgID)
	}
	return out
}

func wantIDs(from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("id-%d", i))
	}
	return out
}

func TestAppendReadAckReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
	appendN(t, s, 0, 200) // several segments
	es := readAll(t, s)
	if got, want := ids(es), wantIDs(0, 200); !slices.Equal(got, want) {
		t.Fatalf("read %d entries, want 200 in order: %v", len(got), got[:min(5, len(got))])
	}
	for i, e := range es {
		if e.Subject != "unyo.event.test" || !bytes.Equal(e.Data, msg(i).Data) || e.Seq != uint64(i+1) {
			t.Fatalf("entry %d: %+v", i, e)
		}
	}
	if st := s.Status(); st.Entries != 200 || st.Oldest.IsZero() {
		t.Fatalf("status before ack: %+v", st)
	}
	segsBefore := segFiles(t, dir)
	if err := s.Ack(es[119].Seq); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.Entries != 80 {
		t.Fatalf("entries after acking 120: %d, want 80", st.Entries)
	}
	if after := segFiles(t, dir); len(after) >= len(segsBefore) {
		t.Fatalf("acked segments not deleted: %d files before, %d after", len(segsBefore), len(after))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopen: the 80 not acknowledged come back, in order, and new ones
	// follow them.
	s2 := open(t, dir, Options{SegmentBytes: 4096, MaxBytes: 1 << 20})
	if st := s2.Status(); st.Entries != 80 {
		t.Fatalf("entries after reopen: %d, want 80", st.Entries)
	}
	appendN(t, s2, 200, 10)
	if got, want := ids(readAll(t, s2)), wantIDs(120, 90); !slices.Equal(got, want) {
		t.Fatalf("after reopen read %v, want %v", got, want)
	}
}

func segFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFullRefusesAndRecovers: a spool at its bound refuses at once (never
// blocks) and takes messages again once the bus has stored some.
func TestFullRefusesAndRecovers(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10})
	n := 0
	for ; ; n++ {
		err := s.Append(context.Background(), msg(n))
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n > 100000 {
			t.Fatal("spool never filled")
		}
	}
	if st := s.Status(); st.Bytes > st.MaxBytes {
		t.Fatalf("%d bytes on disk above the bound %d", st.Bytes, st.MaxBytes)
	}
	// A batch is all or nothing.
	if err := s.Append(context.Background(), msg(n), msg(n+1)); !errors.Is(err, ErrFull) {
		t.Fatalf("batch into a full spool: %v", err)
	}
	es := readAll(t, s)
	if len(es) != n {
		t.Fatalf("read %d, appended %d", len(es), n)
	}
	if err := s.Ack(es[len(es)/2].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), msg(n)); err != nil {
		t.Fatalf("append after half was forwarded: %v", err)
	}
}

func TestTooLarge(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxEntry: 100})
	err := s.Append(context.Background(), Msg{Subject: "s", MsgID: "x", Data: make([]byte, 200)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// TestTornTail cuts the last segment at every byte of its last record, and
// garbles it: the spool opens with the records before it, logs the cut, and
// appends after them.
func TestTornTail(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	s := open(t, src, Options{})
	appendN(t, s, 0, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segFiles(t, src)[0]
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	last := recordSize(&Msg{Subject: "unyo.event.test", MsgID: "id-4", Data: msg(4).Data})
	good := len(full) - last
	cases := map[string][]byte{}
	for cut := good + 1; cut < len(full); cut++ {
		cases[fmt.Sprintf("cut at %d", cut)] = full[:cut]
	}
	flip := slices.Clone(full)
	flip[len(flip)-3] ^= 0xff
	cases["bit flip in the last record"] = flip
	cases["garbage after the records"] = append(slices.Clone(full[:good]), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7)
	cases["zeros after the records (preallocated tail)"] = append(slices.Clone(full[:good]), make([]byte, 64)...)
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("%x", name))
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, dir, Options{})
			if st := s.Status(); st.Entries != 4 {
				t.Fatalf("entries after a torn tail: %d, want 4", st.Entries)
			}
			if fi, _ := os.Stat(filepath.Join(dir, filepath.Base(seg))); fi.Size() != int64(good) {
				t.Fatalf("segment is %d bytes after recovery, want truncated to %d", fi.Size(), good)
			}
			appendN(t, s, 100, 1)
			got := ids(readAll(t, s))
			want := append(wantIDs(0, 4), "id-100")
			if !slices.Equal(got, want) {
				t.Fatalf("read %v, want %v", got, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// Once more: the recovered spool reopens clean.
			s2 := open(t, dir, Options{})
			if got := ids(readAll(t, s2)); !slices.Equal(got, want) {
				t.Fatalf("second reopen read %v, want %v", got, want)
			}
		})
	}
}

// TestConcurrentAppendsGroupCommit: many writers at once all get durable
// entries, each exactly once, with fewer fsyncs than appends.
func TestConcurrentAppendsGroupCommit(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{SegmentBytes: 64 << 10})
	const writers, per = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers*per)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := s.Append(context.Background(), msg(w*per+i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, Options{SegmentBytes: 64 << 10})
	got := ids(readAll(t, s2))
	slices.Sort(got)
	want := wantIDs(0, writers*per)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read %d distinct entries, want %d", len(slices.Compact(got)), len(want))
	}
}

// TestForwardRetriesUntilStored: a bus that fails, then stores part of a
// batch, then everything: every message is published in order, acked once,
// and the spool ends empty.
func TestForwardRetriesUntilStored(t *testing.T) {
	s := open(t, t.TempDir(), Options{SegmentBytes: 4096})
	appendN(t, s, 0, 300)
	var mu sync.Mutex
	stored := map[string]int{}
	var order []string
	calls := 0
	publish := func(ctx context.Context, batch []Entry) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch {
		case calls <= 3:
			return 0, errors.New("nats: no response from stream")
		case calls == 4:
			for _, e := range batch[:len(batch)/2] {
				stored[e.MsgID]++
				order = append(order, e.MsgID)
			}
			return len(batch) / 2, errors.New("timeout")
		}
		for _, e := range batch {
			stored[e.MsgID]++
			order = append(order, e.MsgID)
		}
		return len(batch), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Forward(ctx, publish, ForwardOptions{Batch: 64, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	}()
	waitFor(t, "the spool to empty", func() bool { return s.Status().Entries == 0 })
	appendN(t, s, 300, 10)
	waitFor(t, "the later messages forwarded", func() bool { return s.Status().Entries == 0 })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, wantIDs(0, 310)) {
		t.Fatalf("published %d in this order: %v...", len(order), order[:min(10, len(order))])
	}
	for id, n := range stored {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if st := s.Status(); st.ForwardErr != nil || st.Bytes > 4096 {
		t.Fatalf("status after forwarding: %+v", st)
	}
}

func TestForwardDropsUndeliverable(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	appendN(t, s, 0, 3)
	var got []string
	publish := func(ctx context.Context, batch []Entry) (int, error) {
		for i, e := range batch {
			if e.MsgID == "id-1" {
				return i, fmt.Errorf("%w: maximum payload exceeded", ErrUndeliverable)
			}
			got = append(got, e.MsgID)
		}
		return len(batch), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Forward(ctx, publish, ForwardOptions{})
	waitFor(t, "the spool to empty", func() bool { return s.Status().Entries == 0 })
	cancel()
	if !slices.Equal(got, []string{"id-0", "id-2"}) {
		t.Fatalf("published %v", got)
	}
}

// TestAppendBoundedWhenFsyncSlow: an append whose context ends before its
// fsync returns the context's error, not a hang.
func TestAppendTimeoutOnClosedWaiter(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Either the fsync won the race or the cancelled context ended the
	// wait; never a hang, and the entry is kept either way.
	err := s.Append(ctx, msg(0))
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("append with a cancelled context: %v", err)
	}
	waitFor(t, "the entry durable", func() bool { return len(readAll(t, s)) == 1 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func FuzzReadRecord(f *testing.F) {
	good := appendRecord(nil, 7, time.Unix(1, 2), &Msg{Subject: "a.b", MsgID: "id", Data: []byte("{}")})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(slices.Clone(good), good...))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		off := 0
		for {
			e, n, b, err := readRecord(r, 1<<16, buf)
			buf = b
			if err != nil {
				if !errors.Is(err, errTorn) && !errors.Is(err, errCorrupt) && err.Error() != "EOF" {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			// A record that reads back re-encodes to the same bytes.
			again := appendRecord(nil, e.Seq, e.Time, &e.Msg)
			if !bytes.Equal(again, data[off:off+n]) {
				t.Fatalf("record at %d does not round-trip", off)
			}
			off += n
		}
	})
}

// TestAckedFileTorn: an acked mark that does not read back (torn, or
// garbage) replays every entry still on disk rather than skipping any.
func TestAckedFileTorn(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	appendN(t, s, 0, 10)
	es := readAll(t, s)
	if err := s.Ack(es[4].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readAcked(filepath.Join(dir, "acked")); got != es[4].Seq {
		t.Fatalf("acked mark %d, want %d", got, es[4].Seq)
	}
	if err := os.WriteFile(filepath.Join(dir, "acked"), []byte{5, 0, 0, 0, 0, 0, 0, 0, 9, 9}, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, Options{})
	if got := ids(readAll(t, s2)); !slices.Equal(got, wantIDs(0, 10)) {
		t.Fatalf("with a torn acked mark read %v, want all 10 again", got)
	}
}

// TestAppendNoSync: an entry appended without waiting is read (after its
// fsync) and survives a reopen.
func TestAppendNoSync(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	if err := s.AppendNoSync(msg(0), msg(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the entries durable", func() bool { return len(readAll(t, s)) == 2 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, Options{})
	if got := ids(readAll(t, s2)); !slices.Equal(got, wantIDs(0, 2)) {
		t.Fatalf("after reopen read %v", got)
	}
}
