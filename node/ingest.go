package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
)

// SpoolOptions configure the node-local spool every ingest path writes to
// before the bus (nats.spool).
type SpoolOptions struct {
	// Dir of the segment files. Empty: <Bus.StoreDir>/spool with an
	// embedded bus, else a temporary directory (not durable across
	// restarts; FromConfig always sets <data_dir>/spool).
	Dir          string
	MaxBytes     int64
	SegmentBytes int64
	// AppendTimeout bounds an ingest's wait for durability (default 5s).
	AppendTimeout time.Duration
	// ReadyMaxAge: /readyz's spool check fails while a message has
	// waited longer (default 10s).
	ReadyMaxAge time.Duration
	// ReadyMaxBacklog: /readyz's backlog check fails while more events
	// wait for the ledger (default 10000).
	ReadyMaxBacklog int
	// Forward tunes the forwarder.
	Forward spool.ForwardOptions
}

func (o *SpoolOptions) defaults() {
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = 5 * time.Second
	}
	if o.ReadyMaxAge <= 0 {
		o.ReadyMaxAge = 10 * time.Second
	}
	if o.ReadyMaxBacklog <= 0 {
		o.ReadyMaxBacklog = 10000
	}
}

// ingestPart is the spool, its forwarder and the readiness probes.
type ingestPart struct {
	opts   SpoolOptions
	sp     *spool.Spool
	in     *bus.Ingest
	tmp    string // a temporary spool directory to remove
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// stream probe: the last time the events stream answered, and the
	// last error.
	streamOK  time.Time
	streamErr error
	// backlog cache
	backlogAt  time.Time
	backlog    uint64
	backlogErr error
}

// newIngest opens the spool.
func (n *Node) newIngest() error {
	o := n.opts.Spool
	o.defaults()
	p := &ingestPart{opts: o}
	dir := o.Dir
	switch {
	case dir != "":
	case n.opts.Bus.URL == "" && n.opts.Bus.StoreDir != "":
		dir = filepath.Join(n.opts.Bus.StoreDir, "spool")
	default:
		d, err := os.MkdirTemp("", "unyo-spool-")
		if err != nil {
			return fmt.Errorf("node: spool: %w", err)
		}
		dir, p.tmp = d, d
		n.log.Warn("no spool directory configured: using a temporary one, not kept across restarts", "dir", d)
	}
	sp, err := spool.Open(spool.Options{Dir: dir, MaxBytes: o.MaxBytes, SegmentBytes: o.SegmentBytes,
		Logger: n.log, Registerer: n.opts.Registry})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	p.sp, p.in = sp, bus.NewIngest(n.bus, sp)
	p.streamOK = time.Now()
	n.ingest = p
	return nil
}

// startIngest runs the forwarder and the stream probe.
func (n *Node) startIngest(ctx context.Context) {
	p := n.ingest
	ctx, p.cancel = context.WithCancel(ctx)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.sp.Forward(ctx, n.bus.PublishEntries, p.opts.Forward)
	}()
	go func() { defer p.wg.Done(); n.probeStream(ctx) }()
}

// stopIngest gives the forwarder a moment to empty the spool, stops it
// and closes the spool; what is left is forwarded after the restart.
func (n *Node) stopIngest() {
	p := n.ingest
	if p == nil {
		return
	}
	if p.cancel != nil {
		deadline := time.Now().Add(2 * time.Second)
		for p.sp.Status().Entries > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		p.cancel()
		p.wg.Wait()
	}
	if err := p.sp.Close(); err != nil {
		n.log.Warn("spool close", "err", err)
	}
	if p.tmp != "" {
		_ = os.RemoveAll(p.tmp)
	}
}

// probeStream asks for the events stream's info every 2 s: it answers only
// while the stream has a leader the node can reach, which is when a
// publish would be stored.
func (n *Node) probeStream(ctx context.Context) {
	p := n.ingest
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := n.bus.ProbeEvents(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		if err == nil {
			p.streamOK = time.Now()
		}
		p.streamErr = err
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// busReady is /readyz's bus check: connected, and the events stream
// answered within the last 5 s.
func (n *Node) busReady(context.Context) error {
	if err := n.bus.Healthy(); err != nil {
		return err
	}
	p := n.ingest
	p.mu.Lock()
	ok, err := p.streamOK, p.streamErr
	p.mu.Unlock()
	if err != nil && time.Since(ok) > 5*time.Second {
		return fmt.Errorf("events stream not answering for %s: %w", time.Since(ok).Round(time.Second), err)
	}
	return nil
}

// spoolReady is /readyz's spool check: publishes are not stalled and the
// spool is not nearly full.
func (n *Node) spoolReady(context.Context) error {
	p := n.ingest
	st := p.sp.Status()
	now := time.Now()
	switch {
	case st.Bytes >= st.MaxBytes*9/10:
		return fmt.Errorf("spool %d%% full (%d messages waiting for the bus)", st.Bytes*100/st.MaxBytes, st.Entries)
	case !st.Oldest.IsZero() && now.Sub(st.Oldest) > p.opts.ReadyMaxAge:
		msg := fmt.Sprintf("publishes stalled: %d messages waiting for the bus, the oldest for %s",
			st.Entries, now.Sub(st.Oldest).Round(time.Second))
		if st.ForwardErr != nil {
			return fmt.Errorf("%s: %w", msg, st.ForwardErr)
		}
		return errors.New(msg)
	case st.ForwardErr != nil && now.Sub(st.FailingSince) > p.opts.ReadyMaxAge:
		return fmt.Errorf("publishes failing for %s: %w", now.Sub(st.FailingSince).Round(time.Second), st.ForwardErr)
	}
	return nil
}

// backlogReady is /readyz's backlog check: the ledger is no more than
// ReadyMaxBacklog events behind the bus (asked at most once a second).
func (n *Node) backlogReady(ctx context.Context) error {
	p := n.ingest
	p.mu.Lock()
	if time.Since(p.backlogAt) > time.Second {
		p.mu.Unlock()
		bctx, cancel := context.WithTimeout(ctx, time.Second)
		pending, err := n.pipe.Pending(bctx)
		cancel()
		p.mu.Lock()
		p.backlogAt, p.backlog, p.backlogErr = time.Now(), pending, err
	}
	pending, err := p.backlog, p.backlogErr
	p.mu.Unlock()
	switch {
	case err != nil:
		return fmt.Errorf("backlog unknown: %w", err)
	case pending > uint64(p.opts.ReadyMaxBacklog):
		return fmt.Errorf("ledger %d events behind the bus (ready at %d or fewer)", pending, p.opts.ReadyMaxBacklog)
	}
	return nil
}

// Spool returns the node's ingest spool.
func (n *Node) Spool() *spool.Spool { return n.ingest.sp }

// Ingest returns where the node's events go: the spool in front of the
// bus.
func (n *Node) Ingest() *bus.Ingest { return n.ingest.in }
