package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// PingInterval is how often an idle live stream sends a "ping" event,
// so that a page can tell a quiet stream from a dead one.
var PingInterval = 15 * time.Second

// events serves the live stream (text/event-stream). A page connects
// with ?since=<the LastEventID it was drawn at>; a reconnecting browser
// sends Last-Event-ID. Either way it first gets what it missed, or one
// "refresh" event when the hub no longer holds that.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	since := r.Header.Get("Last-Event-ID")
	if since == "" {
		since = r.URL.Query().Get("since")
	}
	if len(since) > 64 {
		since = "?"
	}
	// Events meant for an action are sent only to a viewer allowed it.
	role := auth.FromRequest(r).Role
	rc := http.NewResponseController(w)
	missed, refresh, c, err := s.d.Hub.subscribe(since)
	if errors.Is(err, ErrTooManyStreams) {
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many live pages open", http.StatusServiceUnavailable)
		return
	}
	defer s.d.Hub.unsubscribe(c)
	// The stream outlives the server's read and write timeouts.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	var b strings.Builder
	b.WriteString("retry: 2000\n\n")
	if refresh {
		writeEvent(&b, Event{ID: s.d.Hub.LastID(), Type: "refresh", Data: "{}"})
	}
	for _, ev := range missed {
		if ev.For(role) {
			writeEvent(&b, ev)
		}
	}
	if _, err := w.Write([]byte(b.String())); err != nil || rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(PingInterval)
	defer ping.Stop()
	for {
		b.Reset()
		select {
		case <-r.Context().Done():
			return
		case <-c.dropped:
			return // too slow: the browser reconnects with its Last-Event-ID
		case ev := <-c.ch:
			if ev.For(role) {
				writeEvent(&b, ev)
			}
		drain:
			for range 32 {
				select {
				case ev := <-c.ch:
					if ev.For(role) {
						writeEvent(&b, ev)
					}
				default:
					break drain
				}
			}
		case <-ping.C:
			b.WriteString("event: ping\ndata: {}\n\n")
		}
		if b.Len() == 0 {
			continue // nothing this viewer may see
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := w.Write([]byte(b.String())); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		_ = rc.SetWriteDeadline(time.Time{})
	}
}

func writeEvent(b *strings.Builder, ev Event) {
	fmt.Fprintf(b, "id: %s\nevent: %s\n", ev.ID, ev.Type)
	for _, line := range strings.Split(ev.Data, "\n") {
		fmt.Fprintf(b, "data: %s\n", line)
	}
	b.WriteString("\n")
}
