package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Options configure the bus. The zero value, with StoreDir set, runs an
// embedded in-process server.
type Options struct {
	// URL of an external NATS server (comma-separated for a cluster).
	// Empty starts the embedded server.
	URL string
	// Name of this node; the embedded server's name.
	Name string
	// Listen is the embedded server's client listener (host:port); empty
	// means in-process only, no TCP port.
	Listen string
	// StoreDir is the embedded server's JetStream directory.
	StoreDir string
	// SyncAlways makes the embedded server fsync every write.
	SyncAlways bool
	// Namespace prefixes subjects (lower case) and stream names (upper
	// case). Default "unyo".
	Namespace string
	// Replicas of each stream (1 on a single node).
	Replicas int
	// MaxAge of messages in the streams.
	MaxAge time.Duration
	// DuplicateWindow within which a repeated message id is dropped.
	DuplicateWindow time.Duration
	Logger          *slog.Logger
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = "unyo"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxAge == 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 10 * time.Minute
	}
	if o.Name == "" {
		o.Name = "unyo"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	if o.URL == "" && o.StoreDir == "" {
		return errors.New("bus: embedded server needs a store directory")
	}
	if strings.ContainsAny(o.Namespace, ".*> \t") {
		return fmt.Errorf("bus: namespace %q: must be one subject token", o.Namespace)
	}
	if o.DuplicateWindow > o.MaxAge {
		return fmt.Errorf("bus: duplicate window %s longer than max age %s", o.DuplicateWindow, o.MaxAge)
	}
	return nil
}

// Bus is a connection to NATS with unyo's streams in place.
type Bus struct {
	opts Options
	ns   *server.Server // nil with an external server
	nc   *nats.Conn
	js   jetstream.JetStream
	log  *slog.Logger
}

// Open starts or connects to NATS and creates the streams. It undoes what it
// started if a later step fails.
func Open(ctx context.Context, opts Options) (_ *Bus, err error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	b := &Bus{opts: opts, log: opts.Logger.With("component", "bus")}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if opts.URL == "" {
		if err := b.startEmbedded(); err != nil {
			return nil, err
		}
		b.nc, err = nats.Connect("", nats.InProcessServer(b.ns), nats.Name(opts.Name), nats.MaxReconnects(-1))
	} else {
		b.nc, err = nats.Connect(opts.URL, nats.Name(opts.Name), nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second))
	}
	if err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	b.js, err = jetstream.New(b.nc)
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: b.EventsStream(), Subjects: []string{opts.Namespace + ".event.>"}},
		{Name: b.IncidentsStream(), Subjects: []string{opts.Namespace + ".incident.>"}},
	} {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = opts.Replicas
		sc.MaxAge = opts.MaxAge
		sc.Duplicates = opts.DuplicateWindow
		sc.Retention = jetstream.LimitsPolicy
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = b.js.CreateOrUpdateStream(sctx, sc)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
	}
	return b, nil
}

func (b *Bus) startEmbedded() error {
	so := &server.Options{
		ServerName: b.opts.Name,
		JetStream:  true,
		StoreDir:   b.opts.StoreDir,
		SyncAlways: b.opts.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
	}
	if b.opts.Listen == "" {
		so.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(b.opts.Listen)
		if err != nil {
			return fmt.Errorf("bus: listen %q: %w", b.opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("bus: listen %q: port: %w", b.opts.Listen, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		so.Host, so.Port = host, p
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("bus: embedded server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return errors.New("bus: embedded server not ready within 15s")
	}
	b.ns = ns
	b.log.Info("embedded NATS started", "store_dir", b.opts.StoreDir, "listen", b.ClientURL())
	return nil
}

// ClientURL is the embedded server's client URL for agents and other nodes,
// or the external URL; empty when the embedded server is in-process only.
func (b *Bus) ClientURL() string {
	if b.ns == nil {
		return b.opts.URL
	}
	if b.opts.Listen == "" {
		return ""
	}
	return b.ns.ClientURL()
}

// Conn returns the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// EventsStream is the name of the events stream.
func (b *Bus) EventsStream() string { return strings.ToUpper(b.opts.Namespace) + "_EVENTS" }

// IncidentsStream is the name of the incident transitions stream.
func (b *Bus) IncidentsStream() string { return strings.ToUpper(b.opts.Namespace) + "_INCIDENTS" }

// EventSubject is the subject an event from source is published on.
func (b *Bus) EventSubject(source string) string {
	return b.opts.Namespace + ".event." + token(source)
}

// IncidentSubject is the subject a transition of kind k is published on.
func (b *Bus) IncidentSubject(k incident.Kind) string {
	return b.opts.Namespace + ".incident." + token(string(k))
}

// token makes s usable as one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// Publish publishes an event and returns once JetStream has stored it (or
// recognised its id as a duplicate). The event must have an ID.
func (b *Bus) Publish(ctx context.Context, ev incident.Event) error {
	if ev.ID == "" {
		return errors.New("bus: event without id")
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("bus: encode event: %w", err)
	}
	if _, err := b.js.Publish(ctx, b.EventSubject(ev.Source), data, jetstream.WithMsgID(ev.ID)); err != nil {
		return fmt.Errorf("bus: publish event %s: %w", ev.ID, err)
	}
	return nil
}

// PublishBatch publishes events asynchronously and waits until every one is
// stored. It returns the errors of those that failed, joined.
func (b *Bus) PublishBatch(ctx context.Context, evs []incident.Event) error {
	futs := make([]jetstream.PubAckFuture, 0, len(evs))
	var errs []error
	for _, ev := range evs {
		if ev.ID == "" {
			errs = append(errs, errors.New("bus: event without id"))
			continue
		}
		data, err := json.Marshal(ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("bus: encode event %s: %w", ev.ID, err))
			continue
		}
		f, err := b.js.PublishAsync(b.EventSubject(ev.Source), data, jetstream.WithMsgID(ev.ID))
		if err != nil {
			errs = append(errs, fmt.Errorf("bus: publish event %s: %w", ev.ID, err))
			continue
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("bus: publish event %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err))
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("bus: publish: %w", ctx.Err()))...)
		}
	}
	return errors.Join(errs...)
}

// Transition is the message published on unyo.incident.<kind>: the timeline
// entry and the incident as it stood after it.
type Transition struct {
	Entry    incident.Entry    `json:"entry"`
	Incident incident.Incident `json:"incident"`
}

// PublishTransition publishes one incident transition with the message id
// "incident.<id>.<seq>".
func (b *Bus) PublishTransition(ctx context.Context, t Transition) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("bus: encode transition: %w", err)
	}
	id := fmt.Sprintf("incident.%d.%d", t.Entry.IncidentID, t.Entry.Seq)
	if _, err := b.js.Publish(ctx, b.IncidentSubject(t.Entry.Kind), data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("bus: publish %s: %w", id, err)
	}
	return nil
}

// Healthy reports whether the connection is up.
func (b *Bus) Healthy() error {
	if b.nc == nil || !b.nc.IsConnected() {
		return errors.New("bus: not connected to NATS")
	}
	return nil
}

// Close drains the connection and stops the embedded server. It is safe to
// call more than once.
func (b *Bus) Close() {
	if b.nc != nil {
		_ = b.nc.FlushTimeout(2 * time.Second)
		b.nc.Close()
		b.nc = nil
	}
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
		b.ns = nil
	}
}
