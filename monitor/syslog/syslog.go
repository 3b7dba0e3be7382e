package syslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/internal/warnlimit"
	"github.com/unyo-ops/unyo/monitor/udpbatch"
)

// Source is the event source of everything this package publishes.
const Source = "syslog"

// Errors.
var (
	// ErrStarted is returned by Start on a receiver already started or
	// stopped.
	ErrStarted = errors.New("syslog: receiver already started")
	// ErrFrame is a TCP framing error; the connection is closed.
	ErrFrame = errors.New("syslog: bad octet-counting frame")
)

const (
	protoUDP = iota
	protoTCP
)

var protoNames = [...]string{"udp", "tcp"}

// item is one frame on the queue.
type item struct {
	data     []byte
	sender   netip.Addr
	received time.Time
	proto    uint8
}

// itemSize is what a queued frame holds besides its bytes.
const itemSize = int(unsafe.Sizeof(item{}))

// maxQueueSlots caps the queue channel's slots (a UDP read's batch takes
// one slot for up to 64 frames; a TCP frame one): the frame and byte
// counts are the real bounds, and a channel's slots are allocated whole.
const maxQueueSlots = 65536

// Receiver is the syslog receiver. New, then Start; Stop ends it.
type Receiver struct {
	cfg     Config
	loc     *time.Location
	log     *slog.Logger
	sink    monitor.Sink
	filters atomic.Pointer[filter.Engine]
	m       *metrics
	names   map[netip.Addr]string
	warn    *warnlimit.Limiter

	// queue holds batches of frames (one per UDP read, one frame per TCP
	// frame); queued counts the frames in it, bounded by QueueSize, and
	// queuedBytes the memory they hold, bounded by QueueBytes.
	queue       chan []item
	queued      atomic.Int64
	queuedBytes atomic.Int64

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	udp     *net.UDPConn
	tcp     net.Listener
	conns   map[net.Conn]struct{}
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	readers sync.WaitGroup
	workers sync.WaitGroup
}

// New builds a receiver; it opens no socket until Start. filters and sink
// are required; log nil discards logs; reg nil registers no metrics.
func New(cfg Config, filters *filter.Engine, sink monitor.Sink, log *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("syslog: config: %w", err)
	}
	if filters == nil || sink == nil {
		return nil, errors.New("syslog: filters and sink are required")
	}
	cfg.setDefaults()
	loc, _ := time.LoadLocation(cfg.Timezone)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		cfg:   cfg,
		loc:   loc,
		log:   log.With("component", "syslog"),
		sink:  sink,
		queue: make(chan []item, min(cfg.QueueSize, maxQueueSlots)),
		conns: map[net.Conn]struct{}{},
		done:  make(chan struct{}),
		names: map[netip.Addr]string{},
		warn:  warnlimit.New(time.Minute),
	}
	for k, v := range cfg.SenderNames {
		r.names[netip.MustParseAddr(k).Unmap()] = v
	}
	r.filters.Store(filters)
	r.m = newMetrics(reg, r)
	return r, nil
}

// SetFilters swaps the filter rules (on a config reload); frames already
// being processed finish with the old ones.
func (r *Receiver) SetFilters(e *filter.Engine) {
	if e != nil {
		r.filters.Store(e)
	}
}

// Start binds the sockets and starts the readers and workers. It returns
// once the sockets are bound. Cancelling ctx stops the receiver as Stop
// does.
func (r *Receiver) Start(ctx context.Context) (err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != 0 {
		return ErrStarted
	}
	defer func() {
		if err != nil {
			r.closeSockets()
		}
	}()
	if r.cfg.UDPListen != "" {
		ua, err := net.ResolveUDPAddr("udp", r.cfg.UDPListen)
		if err != nil {
			return fmt.Errorf("syslog: udp_listen: %w", err)
		}
		if r.udp, err = net.ListenUDP("udp", ua); err != nil {
			return fmt.Errorf("syslog: udp_listen: %w", err)
		}
		granted, err := udpbatch.SetReadBuffer(r.udp, r.cfg.UDPReadBuffer)
		if err != nil {
			r.log.Warn("cannot set UDP receive buffer", "udp_read_buffer", r.cfg.UDPReadBuffer, "err", err)
		} else if granted < r.cfg.UDPReadBuffer {
			r.log.Warn("UDP receive buffer smaller than udp_read_buffer (raise net.core.rmem_max, or give the process CAP_NET_ADMIN)",
				"udp_read_buffer", r.cfg.UDPReadBuffer, "granted", granted)
		}
	}
	if r.cfg.TCPListen != "" {
		if r.tcp, err = net.Listen("tcp", r.cfg.TCPListen); err != nil {
			return fmt.Errorf("syslog: tcp_listen: %w", err)
		}
	}
	r.state = 1
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for range r.cfg.Workers {
		r.workers.Add(1)
		go r.work()
	}
	if r.udp != nil {
		r.readers.Add(1)
		go r.readUDP()
	}
	if r.tcp != nil {
		r.readers.Add(1)
		go r.acceptTCP()
	}
	context.AfterFunc(ctx, r.Stop)
	var udpAddr, tcpAddr string
	if r.udp != nil {
		udpAddr = r.udp.LocalAddr().String()
	}
	if r.tcp != nil {
		tcpAddr = r.tcp.Addr().String()
	}
	r.log.Info("syslog receiver started", "udp", udpAddr, "tcp", tcpAddr)
	return nil
}

// Addr returns the bound UDP and TCP addresses; nil for one not listening.
func (r *Receiver) Addr() (udp, tcp net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.udp != nil {
		udp = r.udp.LocalAddr()
	}
	if r.tcp != nil {
		tcp = r.tcp.Addr()
	}
	return udp, tcp
}

// drainTimeout bounds how long Stop lets the workers publish what is
// queued.
const drainTimeout = 5 * time.Second

// Stop closes the sockets and connections, lets the workers finish the
// queue (for at most 5 s, then pending publishes are cancelled) and
// returns when every goroutine has ended. It is idempotent.
func (r *Receiver) Stop() {
	r.mu.Lock()
	if r.state != 1 {
		r.state = 2
		r.mu.Unlock()
		return
	}
	r.state = 2
	close(r.done)
	r.closeSockets()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()

	r.readers.Wait()
	close(r.queue)
	t := time.AfterFunc(drainTimeout, r.cancel)
	r.workers.Wait()
	t.Stop()
	r.cancel()
	r.log.Info("syslog receiver stopped")
}

func (r *Receiver) closeSockets() {
	if r.udp != nil {
		r.udp.Close()
	}
	if r.tcp != nil {
		r.tcp.Close()
	}
}

func (r *Receiver) stopping() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// udpBatch is how many datagrams one read takes from the socket.
const udpBatch = 64

// readUDP reads datagrams in batches and queues them without ever
// blocking.
func (r *Receiver) readUDP() {
	defer r.readers.Done()
	if err := udpbatch.Favour(); err != nil {
		r.log.Debug("syslog reader keeps its priority", "err", err)
	}
	rd := udpbatch.New(r.udp, udpBatch, r.cfg.MaxMessageSize)
	for {
		n, err := rd.Read()
		if err != nil {
			if r.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Debug("udp read", "err", err)
			continue
		}
		now := time.Now()
		r.m.received[protoUDP].Add(float64(n))
		// Room by frames and by bytes: the datagrams beyond it are
		// dropped, counted.
		roomFrames := min(n, max(0, r.cfg.QueueSize-int(r.queued.Load())))
		roomBytes := r.cfg.QueueBytes - int(r.queuedBytes.Load())
		room, size := 0, 0
		for ; room < roomFrames; room++ {
			data, _, _ := rd.Datagram(room)
			if size+len(data)+itemSize > roomBytes {
				break
			}
			size += len(data) + itemSize
		}
		buf := make([]byte, 0, size-room*itemSize) // one allocation for the batch's bytes
		items := make([]item, 0, room)
		for i := range n {
			data, ap, truncated := rd.Datagram(i)
			r.m.bytes[protoUDP].Add(float64(len(data)))
			if truncated {
				r.m.truncated[protoUDP].Inc()
			}
			if i >= room {
				r.m.dropped[protoUDP].Inc()
				continue
			}
			buf = append(buf, data...)
			items = append(items, item{data: buf[len(buf)-len(data):], sender: ap.Addr(), received: now, proto: protoUDP})
		}
		if len(items) == 0 {
			continue
		}
		r.queued.Add(int64(len(items)))
		r.queuedBytes.Add(int64(size))
		select {
		case r.queue <- items:
		default:
			r.queued.Add(-int64(len(items)))
			r.queuedBytes.Add(-int64(size))
			r.m.dropped[protoUDP].Add(float64(len(items)))
		}
	}
}

func (r *Receiver) acceptTCP() {
	defer r.readers.Done()
	for {
		c, err := r.tcp.Accept()
		if err != nil {
			if r.stopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Debug("tcp accept", "err", err)
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		r.mu.Lock()
		if r.state != 1 || len(r.conns) >= r.cfg.MaxTCPConnections {
			r.mu.Unlock()
			r.m.tcpRejected.Inc()
			c.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.readers.Add(1)
		r.mu.Unlock()
		r.m.tcpConns.Inc()
		go r.readTCP(c)
	}
}

// readTCP reads frames from one connection; the framing is chosen from the
// first byte.
func (r *Receiver) readTCP(c net.Conn) {
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		r.m.tcpConns.Dec()
		r.readers.Done()
	}()
	var sender netip.Addr
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		sender = ap.Addr().Unmap()
	}
	log := r.log.With("peer", c.RemoteAddr().String())
	br := bufio.NewReaderSize(c, r.cfg.MaxMessageSize+16)
	fr := &framer{br: br, max: r.cfg.MaxMessageSize}
	for {
		if r.cfg.TCPIdleTimeout > 0 {
			c.SetReadDeadline(time.Now().Add(r.cfg.TCPIdleTimeout))
		}
		frame, truncated, err := fr.next()
		if frame != nil {
			r.m.received[protoTCP].Inc()
			r.m.bytes[protoTCP].Add(float64(len(frame)))
			if truncated {
				r.m.truncated[protoTCP].Inc()
			}
			r.queued.Add(1)
			r.queuedBytes.Add(int64(len(frame) + itemSize))
			select {
			case r.queue <- []item{{data: frame, sender: sender, received: time.Now(), proto: protoTCP}}:
			case <-r.done:
				r.queued.Add(-1)
				r.queuedBytes.Add(-int64(len(frame) + itemSize))
				return
			}
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), r.stopping():
			case errors.Is(err, ErrFrame):
				r.m.parseErrors[protoTCP].Inc()
				log.Debug("closing connection", "err", err)
			default:
				log.Debug("tcp read", "err", err)
			}
			return
		}
	}
}

// framer splits a TCP stream into frames (RFC 6587). The framing is
// detected on the first frame: a digit means octet counting.
type framer struct {
	br      *bufio.Reader
	max     int
	decided bool
	octet   bool
}

// next returns the next frame (a fresh slice), or an error; a frame and
// io.EOF may come together for a last unterminated line.
func (f *framer) next() (frame []byte, truncated bool, err error) {
	if !f.decided {
		b, err := f.br.Peek(1)
		if err != nil {
			return nil, false, err
		}
		f.decided, f.octet = true, b[0] >= '1' && b[0] <= '9'
	}
	if f.octet {
		frame, err = f.octetFrame()
		return frame, false, err
	}
	for {
		frame, truncated, err = f.line()
		if len(frame) > 0 || err != nil {
			return frame, truncated, err
		}
		// skip empty lines
	}
}

func (f *framer) octetFrame() ([]byte, error) {
	n, digits := 0, 0
	for {
		c, err := f.br.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: stream ends inside the length", ErrFrame)
			}
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || (digits == 0 && c == '0') {
			return nil, fmt.Errorf("%w: unexpected byte %q in MSG-LEN", ErrFrame, c)
		}
		n = n*10 + int(c-'0')
		digits++
		if n > f.max {
			return nil, fmt.Errorf("%w: MSG-LEN over %d", ErrFrame, f.max)
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(f.br, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream ends inside a %d-byte frame", ErrFrame, n)
		}
		return nil, err
	}
	return buf, nil
}

// line reads up to LF. A longer line than max is cut to max and the rest
// discarded up to its LF.
func (f *framer) line() ([]byte, bool, error) {
	b, err := f.br.ReadSlice('\n')
	truncated := false
	var out []byte
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		out = append([]byte(nil), b[:min(len(b), f.max)]...)
		truncated = true
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = f.br.ReadSlice('\n')
		}
		if errors.Is(err, io.EOF) {
			err = io.EOF
		}
	default:
		b = trimFrame(b)
		if len(b) > f.max {
			b, truncated = b[:f.max], true
		}
		out = append([]byte(nil), b...)
	}
	return out, truncated, err
}

// maxBatch is the most events a worker hands to the sink at once.
const maxBatch = 512

// batch is a worker's events waiting for one publish.
type batch struct {
	evs              []incident.Event
	incident, record int
}

// work parses, filters and publishes queued frames: it takes what is
// queued, up to about maxBatch frames, and publishes their events in one
// batch (one spool append), so a worker never publishes per message.
func (r *Receiver) work() {
	defer r.workers.Done()
	p := NewParser(r.loc)
	var b batch
	for items := range r.queue {
		n := r.take(p, items, &b)
	more:
		for n < maxBatch {
			select {
			case items, ok := <-r.queue:
				if !ok {
					break more
				}
				n += r.take(p, items, &b)
			default:
				break more
			}
		}
		r.flush(&b)
	}
}

// take handles a batch of frames taken off the queue.
func (r *Receiver) take(p *Parser, items []item, b *batch) int {
	r.queued.Add(-int64(len(items)))
	size := len(items) * itemSize
	for _, it := range items {
		size += len(it.data)
		r.handle(p, it, b)
	}
	r.queuedBytes.Add(-int64(size))
	return len(items)
}

// flush publishes b's events. Nothing is retried: the sink is the
// node's spool, which waits on neither the bus nor the disk; when it is
// full its policy applies (the events are dropped and counted), since a
// UDP sender cannot be pushed back.
func (r *Receiver) flush(b *batch) {
	if len(b.evs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.PublishTimeout)
	err := monitor.PublishAll(ctx, r.sink, b.evs)
	cancel()
	n := len(b.evs)
	switch {
	case err == nil:
		r.m.publishedIncident.Add(float64(b.incident))
		r.m.publishedRecord.Add(float64(b.record))
		r.m.batches.Inc()
	case errors.Is(err, monitor.ErrFull):
		r.m.spoolFull.Add(float64(n))
		if ok, held := r.warn.Allow("full", time.Now()); ok {
			r.log.Warn("spool full: syslog events dropped", "events", n, "dropped_since_last_warning", held, "err", err)
		}
	default:
		r.m.publishErrors.Add(float64(n))
		if ok, held := r.warn.Allow("publish", time.Now()); ok {
			r.log.Warn("publish events", "events", n, "first_id", b.evs[0].ID, "failed_since_last_warning", held, "err", err)
		}
	}
	clear(b.evs)
	b.evs, b.incident, b.record = b.evs[:0], 0, 0
}

// handle parses and filters one frame, adding its event, if any, to b.
func (r *Receiver) handle(p *Parser, it item, b *batch) {
	msg, nonconforming, err := p.Parse(it.data, it.received)
	if err != nil {
		r.m.parseErrors[it.proto].Inc()
		if r.log.Enabled(r.ctx, slog.LevelDebug) {
			r.log.Debug("malformed syslog message", "sender", it.sender.String(), "proto", protoNames[it.proto],
				"bytes", len(it.data), "err", err, "raw", filter.Clip(string(it.data[:min(len(it.data), 256)]), 256))
		}
		return
	}
	if nonconforming {
		r.m.nonconforming[it.proto].Inc()
	}
	if r.cfg.TargetFrom == "sender" || msg.Host == "" {
		msg.Host = r.senderName(it.sender)
	}
	d := r.filters.Load().Match(&msg)
	if !d.Emit() {
		return
	}
	b.evs = append(b.evs, d.Event(&msg, Source))
	if d.Action == filter.ActionRecord {
		b.record++
	} else {
		b.incident++
	}
}

func (r *Receiver) senderName(a netip.Addr) string {
	if n, ok := r.names[a]; ok {
		return n
	}
	if !a.IsValid() {
		return "unknown"
	}
	return a.String()
}

// QueueLen returns the number of frames waiting for a worker.
func (r *Receiver) QueueLen() int { return int(r.queued.Load()) }
