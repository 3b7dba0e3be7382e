package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/auth"
)

// Event is one server-sent event of the live stream.
type Event struct {
	// ID is "<epoch>-<seq>": the hub's start time and a sequence number.
	// A page sends back the last one it saw (Last-Event-ID, or ?since=)
	// and gets what it missed, or a "refresh" event when the hub no
	// longer holds it (or restarted).
	ID string
	// Type is the SSE event name pages listen to: "incident", "target",
	// "run", ...; "refresh" tells a page to reload what it shows.
	Type string
	// Data is one line of JSON (kept small: ids and states, not pages).
	Data string
	// Action, when set, is what a viewer must be allowed (auth.Allowed)
	// to be sent the event: the stream leaves it out for others.
	Action auth.Action
	seq    uint64
}

// HubOptions configure a Hub.
type HubOptions struct {
	// Keep is how many recent events the hub holds for reconnecting pages
	// (default 1024).
	Keep int
	// ClientBuffer is how many events wait for one page before that page
	// is dropped as too slow (default 64).
	ClientBuffer int
	// MaxClients bounds the live streams at once (default 1000).
	MaxClients int
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Hub fans events out to the open live pages. Publish never blocks: each
// page has a bounded buffer, and a page whose buffer is full is dropped
// (its browser reconnects and catches up from the hub's recent events,
// or is told to refresh).
type Hub struct {
	o     HubOptions
	epoch string

	mu      sync.Mutex
	seq     uint64
	ring    []Event // the last Keep events, oldest first
	clients map[*client]struct{}
	closed  bool

	published prometheus.Counter
	dropped   prometheus.Counter
	streams   prometheus.Gauge
}

type client struct {
	ch      chan Event
	dropped chan struct{} // closed when the hub gave up on the client
}

// NewHub returns a Hub; its metrics are registered on o.Registerer.
func NewHub(o HubOptions) *Hub {
	if o.Keep <= 0 {
		o.Keep = 1024
	}
	if o.ClientBuffer <= 0 {
		o.ClientBuffer = 64
	}
	if o.MaxClients <= 0 {
		o.MaxClients = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Hub{o: o, epoch: strconv.FormatInt(o.Now().UnixNano(), 36), clients: map[*client]struct{}{},
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_web_events_published_total", Help: "Events published to the console's live pages.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_web_streams_dropped_total", Help: "Live pages dropped because they did not keep up.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unyo_web_streams", Help: "Live pages connected now.",
		}),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(h.published, h.dropped, h.streams)
	}
	return h
}

// Publish sends an event of type typ to every live page; data is
// encoded as JSON (nil: {}). It never blocks.
func (h *Hub) Publish(typ string, data any) { h.PublishFor("", typ, data) }

// PublishFor is Publish for the pages of viewers allowed action only
// (auth.Allowed): the stream of any other viewer leaves the event out,
// also when it replays what a reconnecting page missed. "" is everyone
// with the stream (web.view).
func (h *Hub) PublishFor(action auth.Action, typ string, data any) {
	b := []byte("{}")
	if data != nil {
		var err error
		if b, err = json.Marshal(data); err != nil {
			b = []byte("{}")
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	ev := Event{ID: h.id(h.seq), Type: sseToken(typ), Data: string(b), Action: action, seq: h.seq}
	if len(h.ring) >= h.o.Keep {
		copy(h.ring, h.ring[1:])
		h.ring = h.ring[:len(h.ring)-1]
	}
	h.ring = append(h.ring, ev)
	h.published.Inc()
	for c := range h.clients {
		select {
		case c.ch <- ev:
		default:
			h.drop(c)
		}
	}
}

// LastID is the id of the newest event ("<epoch>-0" before any): a page
// rendered now is current up to it.
func (h *Hub) LastID() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.id(h.seq)
}

func (h *Hub) id(seq uint64) string { return h.epoch + "-" + strconv.FormatUint(seq, 10) }

// drop removes c (h.mu held).
func (h *Hub) drop(c *client) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	close(c.dropped)
	h.dropped.Inc()
	h.streams.Dec()
}

// ErrTooManyStreams is returned by subscribe when MaxClients are connected.
var ErrTooManyStreams = fmt.Errorf("too many live pages open")

// subscribe registers a page that has seen events up to since. It
// returns what the page missed (or refresh=true when the hub cannot
// tell: unknown or too old an id), and the client.
func (h *Hub) subscribe(since string) (missed []Event, refresh bool, c *client, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= h.o.MaxClients {
		return nil, false, nil, ErrTooManyStreams
	}
	c = &client{ch: make(chan Event, h.o.ClientBuffer), dropped: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.streams.Inc()
	seq, ok := h.parse(since)
	switch {
	case !ok:
		refresh = since != "" // a page without an id has just loaded
	case seq == h.seq:
	case seq > h.seq:
		refresh = true
	case len(h.ring) == 0 || h.ring[0].seq > seq+1:
		refresh = true // the hub no longer holds what it missed
	default:
		for _, ev := range h.ring {
			if ev.seq > seq {
				missed = append(missed, ev)
			}
		}
	}
	return missed, refresh, c, nil
}

// parse reads an id of this hub's epoch.
func (h *Hub) parse(id string) (uint64, bool) {
	ep, n, ok := strings.Cut(id, "-")
	if !ok || ep != h.epoch {
		return 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return seq, err == nil
}

// Close ends every live stream and refuses new ones: call it when the
// server shuts down (a stream never ends by itself).
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c.dropped)
		h.streams.Dec()
	}
}

// unsubscribe removes c.
func (h *Hub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.streams.Dec()
	}
}

// Streams is the number of live pages connected now.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// For reports whether the viewer of role may be sent ev.
func (ev Event) For(role auth.Role) bool {
	return ev.Action == "" || auth.Allowed(role, ev.Action)
}

// sseToken keeps an event name on one line of the stream.
func sseToken(s string) string {
	if s == "" {
		return "message"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f || r == ':' {
			return '_'
		}
		return r
	}, s)
}
