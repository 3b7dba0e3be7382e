package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/bus/spool"
)

// Ingest is where everything that enters the node goes: the node-local
// spool in front of the bus (package spool). Publish and PublishBatch
// answer once the events are durable in the spool, never waiting for the
// bus; the node's forwarder ([Bus.PublishEntries] under spool.Forward)
// delivers them to JetStream with the event id as message id. It fits
// monitor.Sink, jobnet.Sink, the console's Publisher and notify's Sink.
type Ingest struct {
	b  *Bus
	sp *spool.Spool
	// noSync: answer once written, before the fsync (see NoSync).
	noSync bool
}

// NoSync returns an Ingest over the same spool whose Publish answers once
// the events are written to the spool file, before the fsync that follows
// at once (spool.AppendNoSync): they survive the process being killed, not
// a power loss within that fsync. For the syslog and trap receivers, whose
// UDP senders get no acknowledgement, so that they never wait on the disk.
func (i *Ingest) NoSync() *Ingest { return &Ingest{b: i.b, sp: i.sp, noSync: true} }

// NewIngest returns the ingest of b through sp.
func NewIngest(b *Bus, sp *spool.Spool) *Ingest { return &Ingest{b: b, sp: sp} }

// Spool is the spool behind the ingest.
func (i *Ingest) Spool() *spool.Spool { return i.sp }

// Publish spools one event; see PublishBatch.
func (i *Ingest) Publish(ctx context.Context, ev incident.Event) error {
	return i.PublishBatch(ctx, []incident.Event{ev})
}

// PublishBatch spools events, all or none, and returns once they are
// durable. A full spool answers an error wrapping spool.ErrFull at once;
// ctx bounds the wait for the fsync. Every event must have an ID.
func (i *Ingest) PublishBatch(ctx context.Context, evs []incident.Event) error {
	// One buffer for the whole batch, sliced per event once it stops
	// growing: a receiver's batch costs one allocation, not one per line.
	msgs := make([]spool.Msg, 0, len(evs))
	ends := make([]int, 0, len(evs))
	var buf []byte
	for k := range evs {
		ev := &evs[k]
		if ev.ID == "" {
			return errors.New("bus: event without id")
		}
		var err error
		if buf, err = ev.AppendJSON(buf); err != nil {
			return fmt.Errorf("bus: encode event %s: %w", ev.ID, err)
		}
		ends = append(ends, len(buf))
	}
	start := 0
	for k := range evs {
		msgs = append(msgs, spool.Msg{Subject: i.b.EventSubject(evs[k].Source), MsgID: evs[k].ID, Data: buf[start:ends[k]:ends[k]]})
		start = ends[k]
	}
	var err error
	if i.noSync {
		err = i.sp.AppendNoSync(msgs...)
	} else {
		err = i.sp.Append(ctx, msgs...)
	}
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// Append spools one message for any subject of the bus's streams (job
// results, say), with its stable message id; it is delivered as Publish's
// events are.
func (i *Ingest) Append(ctx context.Context, subject, msgID string, data []byte) error {
	if msgID == "" {
		return errors.New("bus: message without id")
	}
	return i.sp.Append(ctx, spool.Msg{Subject: subject, MsgID: msgID, Data: data})
}

// PublishEntries publishes spooled entries asynchronously, each with its
// message id, and waits for JetStream's acknowledgements; it returns how
// many of the first entries were stored (a duplicate id counts as stored).
// It is the spool forwarder's spool.PublishFunc.
func (b *Bus) PublishEntries(ctx context.Context, batch []spool.Entry) (int, error) {
	futs := make([]jetstream.PubAckFuture, 0, len(batch))
	var perr error
	for _, e := range batch {
		f, err := b.js.PublishAsync(e.Subject, e.Data, jetstream.WithMsgID(e.MsgID))
		if err != nil {
			perr = fmt.Errorf("bus: publish %s: %w", e.MsgID, err)
			if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
				perr = fmt.Errorf("%w: %w", spool.ErrUndeliverable, perr)
			}
			break
		}
		futs = append(futs, f)
	}
	for i, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return i, fmt.Errorf("bus: publish %s: %w", batch[i].MsgID, err)
		case <-ctx.Done():
			return i, fmt.Errorf("bus: publish %s: no acknowledgement: %w", batch[i].MsgID, ctx.Err())
		}
	}
	if perr != nil {
		return len(futs), perr
	}
	return len(batch), nil
}

// ProbeEvents asks JetStream for the events stream's info: it answers only
// while the stream has a leader this node reaches, that is while a publish
// would be stored.
func (b *Bus) ProbeEvents(ctx context.Context) error {
	if _, err := b.js.Stream(ctx, b.EventsStream()); err != nil {
		return fmt.Errorf("bus: stream %s: %w", b.EventsStream(), err)
	}
	return nil
}
