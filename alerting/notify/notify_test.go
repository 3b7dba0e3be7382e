package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

var t0 = time.Date(2026, 11, 22, 3, 10, 0, 0, time.UTC)

func item(id int64, target, check string, sev incident.Severity) Item {
	return Item{Incident: incident.Incident{ID: id, Target: target, Check: check, Severity: sev, State: incident.Open,
		Message: "no reply\nafter 3 pings", OpenedAt: t0, Count: 3, Runbook: "ping-down"},
		URL: IncidentURL("https://unyo.example/", id), RunbookURL: RunbookURL("https://unyo.example", "ping-down")}
}

func TestSubjectAndText(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	tests := []struct {
		name    string
		m       Message
		subject string
		body    []string
	}{
		{"one", Message{Kind: KindProblem, Items: []Item{item(12, "db01", "ping", incident.Critical)}, Level: 2, Role: "operations-se", Location: jst},
			"[CRITICAL] db01: ping - no reply after 3 pings",
			[]string{"Server:   db01\n", "Time:     2026-11-22 12:10:00 JST\n", "Fault:    ping (critical)\n",
				"Content:  no reply after 3 pings\n", "Incident: https://unyo.example/incidents/12\n",
				"Runbook:  https://unyo.example/runbooks/ping-down\n", "Escalation step 2 (operations-se)", "3 occurrences"}},
		{"group", Message{Kind: KindProblem, Items: []Item{item(1, "web01", "disk:/a", incident.Minor), item(2, "web01", "disk:/b", incident.Major),
			item(3, "web01", "disk:/c", incident.Minor), item(4, "web01", "disk:/d", incident.Minor)}},
			"[MAJOR] web01: 4 faults (disk:/a, disk:/b, disk:/c, ...)",
			[]string{"4 faults grouped in one message.", "Fault:    disk:/d (minor)"}},
		{"recovery", Message{Kind: KindRecovery, Items: []Item{item(12, "db01", "ping", incident.Critical)}},
			"[RESOLVED] db01: ping", []string{"Resolved.\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Subject(); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			body := tt.m.Text()
			for _, w := range tt.body {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: 5 * time.Second, MaxAttempts: 5}
	var got []time.Duration
	for i := 1; ; i++ {
		d, ok := b.Next(i)
		if !ok {
			break
		}
		got = append(got, d)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	if len(got) != len(want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
	if (Backoff{Initial: time.Second, Max: time.Millisecond, MaxAttempts: 1}).Validate() == nil {
		t.Error("max < initial accepted")
	}
}

type sinkFunc func(ev incident.Event)

func (f sinkFunc) Publish(_ context.Context, ev incident.Event) error { f(ev); return nil }

func TestHealthRaisesOnceAndClears(t *testing.T) {
	var evs []incident.Event
	h := &Health{Node: "n1", FailAfter: 3, Sink: sinkFunc(func(ev incident.Event) { evs = append(evs, ev) }), Now: func() time.Time { return t0 }}
	ctx := t.Context()
	for range 5 {
		h.Failed(ctx, "mail", context.DeadlineExceeded)
	}
	if len(evs) != 1 || evs[0].Status != incident.Problem || evs[0].Target != "n1" || evs[0].Check != "notifier:mail" {
		t.Fatalf("events after 5 failures = %+v, want one problem", evs)
	}
	h.OK(ctx, "mail")
	h.OK(ctx, "mail")
	if len(evs) != 2 || evs[1].Status != incident.OK {
		t.Fatalf("events after recovery = %+v, want an ok", evs)
	}
	for _, ev := range evs {
		ev.Normalize(t0)
		if err := ev.Validate(); err != nil {
			t.Errorf("event %+v: %v", ev, err)
		}
	}
}
