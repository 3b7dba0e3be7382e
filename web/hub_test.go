package web

import (
	"fmt"
	"testing"
)

func TestHubReplaysWhatAPageMissed(t *testing.T) {
	h := NewHub(HubOptions{Keep: 4})
	drawn := h.LastID()
	h.Publish("incident", map[string]int{"id": 1})
	h.Publish("incident", map[string]int{"id": 2})
	missed, refresh, c, err := h.subscribe(drawn)
	if err != nil {
		t.Fatal(err)
	}
	defer h.unsubscribe(c)
	if refresh || len(missed) != 2 || missed[0].Data != `{"id":1}` || missed[1].Data != `{"id":2}` {
		t.Fatalf("missed %+v refresh %v, want the two events in order", missed, refresh)
	}
	// Up to date: nothing to replay.
	missed, refresh, c2, _ := h.subscribe(h.LastID())
	defer h.unsubscribe(c2)
	if refresh || len(missed) != 0 {
		t.Fatalf("a current page got %d events, refresh %v", len(missed), refresh)
	}
}

func TestHubRefreshWhenItCannotTell(t *testing.T) {
	h := NewHub(HubOptions{Keep: 4})
	old := h.LastID()
	for i := range 10 {
		h.Publish("incident", i)
	}
	for _, since := range []string{old, "otherepoch-3", h.LastID() + "0", "garbage"} {
		missed, refresh, c, err := h.subscribe(since)
		if err != nil {
			t.Fatal(err)
		}
		h.unsubscribe(c)
		if !refresh || len(missed) != 0 {
			t.Errorf("since %q: refresh %v, %d missed; want a refresh and nothing replayed", since, refresh, len(missed))
		}
	}
	// The oldest event still held is replayable.
	missed, refresh, c, _ := h.subscribe(fmt.Sprintf("%s-%d", h.epoch, 6))
	h.unsubscribe(c)
	if refresh || len(missed) != 4 {
		t.Errorf("since the last 4: refresh %v, %d missed", refresh, len(missed))
	}
}

func TestHubDropsASlowPageWithoutBlocking(t *testing.T) {
	h := NewHub(HubOptions{ClientBuffer: 2})
	_, _, slow, _ := h.subscribe(h.LastID())
	_, _, fast, _ := h.subscribe(h.LastID())
	got := 0
	for i := range 100 { // never blocks, though slow reads nothing
		h.Publish("incident", i)
		select {
		case <-fast.ch:
			got++
		default:
		}
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("a page that read nothing was not dropped")
	}
	select {
	case <-fast.dropped:
		t.Fatal("a page that kept up was dropped")
	default:
	}
	if got != 100 || h.Streams() != 1 {
		t.Fatalf("fast page got %d of 100; %d streams, want 1", got, h.Streams())
	}
	h.Close()
	select {
	case <-fast.dropped:
	default:
		t.Fatal("Close left a stream open")
	}
	if _, _, _, err := h.subscribe(""); err == nil {
		t.Fatal("a closed hub took a new stream")
	}
}

func TestHubBoundsStreams(t *testing.T) {
	h := NewHub(HubOptions{MaxClients: 2})
	for range 2 {
		if _, _, _, err := h.subscribe(""); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := h.subscribe(""); err != ErrTooManyStreams {
		t.Fatalf("third stream: %v, want ErrTooManyStreams", err)
	}
}

func TestSSETokenStaysOnOneLine(t *testing.T) {
	if got := sseToken("a\nb: c"); got != "a_b__c" {
		t.Fatalf("sseToken = %q", got)
	}
}
