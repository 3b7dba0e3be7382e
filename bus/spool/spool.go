package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of Append.
var (
	// ErrFull: the messages do not fit within MaxBytes; nothing was kept.
	ErrFull = errors.New("spool: full")
	// ErrTooLarge: a message is larger than MaxEntry.
	ErrTooLarge = errors.New("spool: message too large")
	// ErrClosed: the spool is closed.
	ErrClosed = errors.New("spool: closed")
)

// Defaults.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultSegmentBytes = 16 << 20
	// DefaultMaxEntry is below NATS's default max payload (1 MiB) with room
	// for headers.
	DefaultMaxEntry = 512 << 10
)

// Options configure a spool.
type Options struct {
	// Dir holds the segment files; created 0700 if missing.
	Dir string
	// MaxBytes bounds the segment files on disk (default 1 GiB). An append
	// that would go beyond it is refused with ErrFull.
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed (default
	// 16 MiB, at most MaxBytes/4 so that forwarded segments free room
	// while the bus catches up).
	SegmentBytes int64
	// MaxEntry is the largest message (subject, id and data; default
	// 512 KiB).
	MaxEntry int
	// Now is the clock (default time.Now).
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	o.SegmentBytes = max(min(o.SegmentBytes, o.MaxBytes/4), 4096)
	if o.MaxEntry <= 0 {
		o.MaxEntry = DefaultMaxEntry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// segment is one segment file.
type segment struct {
	first uint64 // sequence in the file name
	last  uint64 // last sequence written (first-1 when empty)
	path  string
	size  int64 // bytes written
	// synced is the byte length known durable; the reader reads no
	// further.
	synced int64
}

// pending is an entry handed to the reader and not yet acknowledged.
type pending struct {
	seq uint64
	t   time.Time
}

// Spool is a node-local durable spool. Append is safe for concurrent use;
// Read and Ack are for one forwarder.
type Spool struct {
	opts Options
	log  *slog.Logger
	m    *metrics

	mu      sync.Mutex
	segs    []*segment // oldest first; the last is being written when active != nil
	active  *os.File
	next    uint64 // sequence of the next append
	acked   uint64 // highest sequence the bus stored
	entries int64  // appended and not acknowledged
	bytes   int64  // sum of segment sizes
	closed  bool
	written uint64 // highest sequence written
	synced  uint64 // highest sequence durable
	syncErr error  // a failed fsync: the spool takes nothing more
	// syncedCh is closed (and replaced) when synced advances, syncErr
	// is set or the spool closes.
	syncedCh chan struct{}
	inflight []pending // read by the forwarder, not yet acked (in order)
	buf      []byte

	kick     chan struct{}
	done     chan struct{}
	syncDone chan struct{}

	// reader state (one forwarder)
	rseg  *segment
	rfile *os.File
	roff  int64
	rbuf  []byte

	ackFile *os.File

	// forwarder state
	fwdErr   error     // the last batch's error, nil after a stored one
	fwdSince time.Time // when the forwarder began failing
}

// Open opens (or creates) the spool in opts.Dir, recovers what a crash
// left and starts the group-commit goroutine.
func Open(opts Options) (*Spool, error) {
	opts.defaults()
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{opts: opts, log: opts.Logger.With("component", "spool"), next: 1,
		syncedCh: make(chan struct{}), kick: make(chan struct{}, 1), done: make(chan struct{}),
		syncDone: make(chan struct{})}
	s.m = newMetrics(opts.Registerer, s)
	if err := s.recover(); err != nil {
		return nil, err
	}
	var err error
	s.ackFile, err = os.OpenFile(filepath.Join(opts.Dir, "acked"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	go s.syncLoop()
	return s, nil
}

// readAcked reads the acked file; 0 when missing or unreadable.
func readAcked(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 12 {
		return 0
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:12]) {
		return 0
	}
	return binary.LittleEndian.Uint64(b[:8])
}

// recover scans the segments, truncates torn tails and deletes what was
// fully acknowledged.
func (s *Spool) recover() error {
	s.acked = readAcked(filepath.Join(s.opts.Dir, "acked"))
	des, err := os.ReadDir(s.opts.Dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var firsts []uint64
	for _, de := range des {
		name, ok := strings.CutSuffix(de.Name(), ".seg")
		if !ok || de.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(name, 10, 64)
		if err != nil || first == 0 {
			s.log.Warn("spool: ignoring a file that is not a segment", "file", de.Name())
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	for _, first := range firsts {
		seg, waiting, err := s.scan(first)
		if err != nil {
			return err
		}
		if seg.last < seg.first || seg.last <= s.acked {
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			continue
		}
		s.segs = append(s.segs, seg)
		s.bytes += seg.size
		s.entries += waiting
		s.next = max(s.next, seg.last+1)
	}
	s.next = max(s.next, s.acked+1)
	s.written, s.synced = s.next-1, s.next-1
	if len(s.segs) > 0 {
		s.log.Info("spool: replaying messages not yet stored by the bus", "entries", s.entries,
			"bytes", s.bytes, "segments", len(s.segs), "acked", s.acked)
	}
	return nil
}

// scan reads one segment, truncating it after its last good record.
func (s *Spool) scan(first uint64) (*segment, int64, error) {
	path := filepath.Join(s.opts.Dir, segName(first))
	seg := &segment{first: first, last: first - 1, path: path}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	var buf []byte
	var waiting int64
	for {
		var e Entry
		var n int
		e, n, buf, err = readRecord(r, s.maxPayload(), buf)
		if err == nil && e.Seq != seg.last+1 {
			err = fmt.Errorf("%w: sequence %d after %d", errCorrupt, e.Seq, seg.last)
		}
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) || errors.Is(err, errCorrupt) {
			st, _ := f.Stat()
			cut := int64(0)
			if st != nil {
				cut = st.Size() - seg.size
			}
			s.log.Warn("spool: torn or corrupt record truncated (a crash during a write)", "segment", path,
				"offset", seg.size, "bytes_cut", cut, "last_good_seq", seg.last, "err", err)
			s.m.torn.Inc()
			if err := f.Truncate(seg.size); err != nil {
				return nil, 0, fmt.Errorf("spool: truncate %s: %w", path, err)
			}
			if err := f.Sync(); err != nil {
				return nil, 0, fmt.Errorf("spool: %w", err)
			}
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("spool: read %s: %w", path, err)
		}
		seg.last = e.Seq
		seg.size += int64(n)
		if e.Seq > s.acked {
			waiting++
		}
	}
	seg.synced = seg.size
	return seg, waiting, nil
}

func (s *Spool) maxPayload() int { return fixedLen + s.opts.MaxEntry + 4 }

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// Append adds msgs and returns once they are durable (see the package
// doc). Either all of msgs are kept or, on ErrFull and ErrTooLarge, none.
func (s *Spool) Append(ctx context.Context, msgs ...Msg) error {
	target, err := s.write(msgs)
	if err != nil || target == 0 {
		return err
	}
	return s.waitSynced(ctx, target)
}

// AppendNoSync adds msgs as Append does but returns once they are written
// to the segment file, before the fsync that follows at once: they survive
// the process being killed (the kernel holds them), not a power loss
// before that fsync. For receivers whose senders get no acknowledgement
// anyway (syslog over UDP, traps), so that they never wait on the disk.
func (s *Spool) AppendNoSync(msgs ...Msg) error {
	_, err := s.write(msgs)
	return err
}

// write writes msgs' records and asks for an fsync; it returns the
// sequence the fsync must cover (0 for no msgs).
func (s *Spool) write(msgs []Msg) (uint64, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	var total int64
	for i := range msgs {
		m := &msgs[i]
		if len(m.Subject)+len(m.MsgID)+len(m.Data) > s.opts.MaxEntry || len(m.Subject) > 0xffff || len(m.MsgID) > 0xffff {
			s.m.rejected.WithLabelValues("too_large").Add(float64(len(msgs)))
			return 0, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(m.Subject)+len(m.MsgID)+len(m.Data), s.opts.MaxEntry)
		}
		total += int64(recordSize(m))
	}
	now := s.opts.Now()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return 0, ErrClosed
	case s.syncErr != nil:
		err := s.syncErr
		s.mu.Unlock()
		return 0, err
	case s.bytes+total > s.opts.MaxBytes:
		s.mu.Unlock()
		s.m.rejected.WithLabelValues("full").Add(float64(len(msgs)))
		return 0, fmt.Errorf("%w: %d bytes waiting for the bus, bound %d", ErrFull, s.bytes, s.opts.MaxBytes)
	}
	for i := 0; i < len(msgs); {
		if err := s.ensureActive(int64(recordSize(&msgs[i]))); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		seg := s.segs[len(s.segs)-1]
		b := s.buf[:0]
		j := i
		for ; j < len(msgs); j++ {
			rs := int64(recordSize(&msgs[j]))
			if j > i && seg.size+int64(len(b))+rs > s.opts.SegmentBytes {
				break
			}
			b = appendRecord(b, s.next+uint64(j-i), now, &msgs[j])
		}
		if _, err := s.active.Write(b); err != nil {
			// A partial write leaves a torn record: cut it off.
			_ = s.active.Truncate(seg.size)
			s.mu.Unlock()
			return 0, fmt.Errorf("spool: write: %w", err)
		}
		if cap(b) <= 1<<20 {
			s.buf = b
		}
		n := uint64(j - i)
		seg.last = s.next + n - 1
		seg.size += int64(len(b))
		s.bytes += int64(len(b))
		s.next += n
		s.entries += int64(n)
		i = j
	}
	target := s.next - 1
	s.written = target
	s.mu.Unlock()
	s.m.appended.Add(float64(len(msgs)))
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return target, nil
}

// waitSynced waits until the fsync covering seq has ended.
func (s *Spool) waitSynced(ctx context.Context, seq uint64) error {
	for {
		s.mu.Lock()
		synced, err, ch := s.synced, s.syncErr, s.syncedCh
		closed := s.closed
		s.mu.Unlock()
		switch {
		case synced >= seq:
			return nil
		case err != nil:
			return err
		case closed:
			return ErrClosed
		}
		select {
		case <-ch:
		case <-ctx.Done():
			s.m.rejected.WithLabelValues("timeout").Inc()
			return fmt.Errorf("spool: waiting for fsync: %w", context.Cause(ctx))
		}
	}
}

// ensureActive makes sure there is a segment being written with room for
// a record of size n (a record larger than a segment gets one of its own).
// Called with s.mu held.
func (s *Spool) ensureActive(n int64) error {
	if s.active != nil {
		seg := s.segs[len(s.segs)-1]
		if seg.size == 0 || seg.size+n <= s.opts.SegmentBytes {
			return nil
		}
		// Roll: the closed segment must be durable before the next one
		// holds later records.
		start := time.Now()
		if err := s.active.Sync(); err != nil {
			s.failSync(err)
			return s.syncErr
		}
		s.m.fsync.Observe(time.Since(start).Seconds())
		seg.synced = seg.size
		s.synced = max(s.synced, seg.last)
		s.broadcast()
		_ = s.active.Close()
		s.active = nil
	}
	seg := &segment{first: s.next, last: s.next - 1, path: filepath.Join(s.opts.Dir, segName(s.next))}
	f, err := os.OpenFile(seg.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: new segment: %w", err)
	}
	// The new file's directory entry must survive a crash too.
	if err := syncDir(s.opts.Dir); err != nil {
		f.Close()
		return err
	}
	s.active = f
	s.segs = append(s.segs, seg)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: sync directory: %w", err)
	}
	return nil
}

// broadcast wakes the waiters on syncedCh. Called with s.mu held.
func (s *Spool) broadcast() {
	close(s.syncedCh)
	s.syncedCh = make(chan struct{})
}

// failSync records a failed fsync: what was written may not be on disk,
// so the spool refuses appends from now on (the node must restart, which
// recovers what is on disk). Called with s.mu held.
func (s *Spool) failSync(err error) {
	if s.syncErr == nil {
		s.syncErr = fmt.Errorf("spool: fsync failed, refusing appends until restart: %w", err)
		s.log.Error("spool: fsync failed; refusing appends until the node restarts", "err", err)
		s.broadcast()
	}
}

// syncLoop is the group commit: it fsyncs what was written since its last
// fsync and wakes the appends that fsync covered.
func (s *Spool) syncLoop() {
	defer close(s.syncDone)
	for {
		select {
		case <-s.kick:
		case <-s.done:
			return
		}
		s.mu.Lock()
		target, f := s.written, s.active
		var seg *segment
		var size int64
		if len(s.segs) > 0 {
			seg = s.segs[len(s.segs)-1]
			size = seg.size
		}
		if target <= s.synced || f == nil || s.syncErr != nil {
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		start := time.Now()
		err := f.Sync()
		s.m.fsync.Observe(time.Since(start).Seconds())
		s.mu.Lock()
		switch {
		case err == nil:
			seg.synced = max(seg.synced, size)
			s.synced = max(s.synced, target)
			s.broadcast()
		case errors.Is(err, os.ErrClosed):
			// The segment was rolled meanwhile, and synced as it was.
		default:
			s.failSync(err)
		}
		s.mu.Unlock()
	}
}

// Read returns up to maxEntries durable entries after those already read
// (and not more than about maxBytes), waiting until there is at least one
// or ctx ends.
func (s *Spool) Read(ctx context.Context, maxEntries int, maxBytes int) ([]Entry, error) {
	for {
		s.mu.Lock()
		ch := s.syncedCh
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		es, err := s.readAvailable(maxEntries, maxBytes)
		if err != nil || len(es) > 0 {
			return es, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// readAvailable reads what is durable now, without waiting.
func (s *Spool) readAvailable(maxEntries, maxBytes int) ([]Entry, error) {
	var out []Entry
	size := 0
	for len(out) < maxEntries && size < maxBytes {
		s.mu.Lock()
		if s.rseg == nil || s.roff >= s.rseg.synced {
			// Move to the next segment once this one is finished (not the
			// one being written) and read to its end.
			nxt := s.nextSegment()
			if nxt == nil {
				s.mu.Unlock()
				break
			}
			if s.rfile != nil {
				s.rfile.Close()
				s.rfile = nil
			}
			s.rseg, s.roff = nxt, 0
		}
		seg, limit := s.rseg, s.rseg.synced
		s.mu.Unlock()
		if s.roff >= limit {
			break
		}
		if s.rfile == nil {
			f, err := os.Open(seg.path)
			if err != nil {
				return out, fmt.Errorf("spool: %w", err)
			}
			s.rfile = f
		}
		r := bufio.NewReaderSize(io.NewSectionReader(s.rfile, s.roff, limit-s.roff), 64<<10)
		for len(out) < maxEntries && size < maxBytes && s.roff < limit {
			var e Entry
			var n int
			var err error
			e, n, s.rbuf, err = readRecord(r, s.maxPayload(), s.rbuf)
			if err != nil {
				return out, fmt.Errorf("spool: read %s at %d: %w", seg.path, s.roff, err)
			}
			s.roff += int64(n)
			s.mu.Lock()
			acked := s.acked
			if e.Seq > acked {
				s.inflight = append(s.inflight, pending{seq: e.Seq, t: e.Time})
			}
			s.mu.Unlock()
			if e.Seq <= acked {
				continue // stored before a restart
			}
			out = append(out, e)
			size += n
		}
	}
	return out, nil
}

// nextSegment is the segment after the reader's, if the reader may move
// there: the reader's is complete (not active) and read to its end.
// Called with s.mu held.
func (s *Spool) nextSegment() *segment {
	if s.rseg == nil {
		if len(s.segs) == 0 {
			return nil
		}
		return s.segs[0]
	}
	i := slices.Index(s.segs, s.rseg)
	if i == len(s.segs)-1 {
		return nil // still being written, or the last
	}
	if i < 0 {
		// Deleted (fully acked): the next is the first left after it.
		for _, sg := range s.segs {
			if sg.first > s.rseg.first {
				return sg
			}
		}
		return nil
	}
	return s.segs[i+1]
}

// Ack records that the bus stored every entry up to seq (entries are
// acknowledged in order), and deletes the segments it completes.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	k := 0
	for k < len(s.inflight) && s.inflight[k].seq <= seq {
		k++
	}
	s.entries -= int64(k)
	s.inflight = slices.Delete(s.inflight, 0, k)
	s.m.forwarded.Add(float64(k))
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:], seq)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	if _, err := s.ackFile.WriteAt(b[:], 0); err != nil {
		s.log.Warn("spool: write acked sequence", "err", err)
	}
	var errs []error
	for len(s.segs) > 0 {
		seg := s.segs[0]
		active := s.active != nil && len(s.segs) == 1
		if seg.last > seq || active || seg == s.rseg && s.roff < seg.size {
			break
		}
		if seg == s.rseg && s.rfile != nil {
			s.rfile.Close()
			s.rfile = nil
		}
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: %w", err))
			break
		}
		s.bytes -= seg.size
		s.segs = s.segs[1:]
	}
	return errors.Join(errs...)
}

// Status is the spool's state for readiness and metrics.
type Status struct {
	// Entries waiting for the bus, and the bytes on disk.
	Entries  int64
	Bytes    int64
	MaxBytes int64
	// Oldest is when the oldest entry waiting was appended (zero when
	// none is known to wait).
	Oldest time.Time
	// ForwardErr is the forwarder's last error while it is failing, and
	// FailingSince when it began to fail.
	ForwardErr   error
	FailingSince time.Time
}

// Status returns the spool's state.
func (s *Spool) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Entries: s.entries, Bytes: s.bytes, MaxBytes: s.opts.MaxBytes,
		ForwardErr: s.fwdErr, FailingSince: s.fwdSince}
	if len(s.inflight) > 0 {
		st.Oldest = s.inflight[0].t
	}
	return st
}

// Close stops the spool: pending fsyncs end, appends fail with ErrClosed.
// It is safe to call more than once.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.mu.Unlock()
	<-s.syncDone
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool: %w", err))
		} else {
			s.synced = s.written
		}
		errs = append(errs, s.active.Close())
		s.active = nil
	}
	s.broadcast()
	if s.rfile != nil {
		s.rfile.Close()
		s.rfile = nil
	}
	if s.ackFile != nil {
		_ = s.ackFile.Sync()
		errs = append(errs, s.ackFile.Close())
	}
	return errors.Join(errs...)
}
