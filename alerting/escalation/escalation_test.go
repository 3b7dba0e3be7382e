package escalation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/mail"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/alerting/notify/webhook"
	"github.com/unyo-ops/unyo/bus"

	"github.com/unyo-ops/unyo/internal/redact"
)

// T0 is a Monday, 02:00 UTC (11:00 in Tokyo).
var T0 = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type opener func(t *testing.T, now func() time.Time) ledger.Store

func stores() map[string]opener {
	return map[string]opener{
		"sqlite": func(t *testing.T, now func() time.Time) ledger.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"postgres": func(t *testing.T, now func() time.Time) ledger.Store {
			url := pgtest.NewDatabase(t)
			s, err := postgres.Open(context.Background(), url, postgres.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// hookReceiver is a real HTTP webhook receiver.
type hookReceiver struct {
	mu    sync.Mutex
	posts []webhook.Payload
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p webhook.Payload
	if err := json.Unmarshal(b, &p); err != nil {
		w.WriteHeader(400)
		return
	}
	h.mu.Lock()
	h.posts = append(h.posts, p)
	h.mu.Unlock()
}

func (h *hookReceiver) Posts() []webhook.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Payload(nil), h.posts...)
}

type sinkRec struct {
	mu  sync.Mutex
	evs []incident.Event
}

func (s *sinkRec) Publish(_ context.Context, ev incident.Event) error {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	return nil
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	store ledger.Store
	es    ledger.EscalationStore
	smtp  *mailtest.Server
	hook  *hookReceiver
	hookS *httptest.Server
	sink  *sinkRec
	cfg   escalation.Config
	esc   *escalation.Escalator
	nf    map[string]notify.Notifier
	opts  escalation.Options
}

// baseConfig: operator (24/365) → operations SE → site manager, help desk
// on weekdays 9-17 in Tokyo.
func baseConfig() escalation.Config {
	return escalation.Config{
		Location: time.FixedZone("JST", 9*3600),
		Contacts: []escalation.Contact{
			{Name: "desk", Mail: []string{"desk@example.com", "desk-phone@example.com"}},
			{Name: "sato", Mail: []string{"sato@example.com"}, Webhook: "hook"},
			{Name: "kato", Mail: []string{"kato@example.com"}},
			{Name: "help", Mail: []string{"help@example.com"}},
		},
		Calendars: []escalation.Calendar{{Name: "office", TimeZone: "Asia/Tokyo", Days: []string{"mon", "tue", "wed", "thu", "fri"}, From: "09:00", To: "17:00"}},
		Roles: []escalation.Role{
			{Name: "operator", Contacts: []string{"desk"}},
			{Name: "operations-se", Contacts: []string{"sato"}},
			{Name: "site-manager", Contacts: []string{"kato"}},
			{Name: "help-desk", Contacts: []string{"help"}, Calendar: "office"},
		},
		Policies: []escalation.Policy{{
			Name: "default",
			Steps: []escalation.Step{
				{Roles: []string{"operator"}, Channels: []string{"mail"}, Wait: 5 * time.Minute},
				{Roles: []string{"operations-se"}, Channels: []string{"mail", "webhook"}, Wait: 10 * time.Minute},
				{Roles: []string{"site-manager"}, Channels: []string{"mail"}, Wait: 10 * time.Minute},
			},
			AckTimeout: 30 * time.Minute,
		}},
		Retry:       notify.Backoff{Initial: time.Minute, Max: 5 * time.Minute, MaxAttempts: 3},
		FailAfter:   2,
		ExternalURL: "https://unyo.example",
	}
}

func newHarness(t *testing.T, open opener, mut func(*escalation.Config, *escalation.Options)) *harness {
	t.Helper()
	h := &harness{t: t, clock: &fakeClock{t: T0}, smtp: mailtest.New(t), hook: &hookReceiver{}, sink: &sinkRec{}}
	h.hookS = httptest.NewServer(h.hook)
	t.Cleanup(h.hookS.Close)
	h.store = open(t, h.clock.Now)
	h.es = h.store.(ledger.EscalationStore)
	m, err := mail.New(mail.Config{Host: h.smtp.Host(), Port: h.smtp.Port(), From: "unyo@example.com", TLS: mail.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w, err := webhook.New(webhook.Config{URL: h.hookS.URL, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = baseConfig()
	// Contact sato's webhook points at the receiver too.
	h.cfg.Contacts[1].Webhook = redact.SecretURL(h.hookS.URL + "/sato")
	h.nf = map[string]notify.Notifier{"mail": m, "webhook": w}
	h.opts = escalation.Options{Store: h.store, Notifiers: h.nf, Sink: h.sink, Clock: h.clock, Node: "n1"}
	if mut != nil {
		mut(&h.cfg, &h.opts)
	}
	h.esc = h.newEscalator()
	return h
}

func (h *harness) newEscalator() *escalation.Escalator {
	h.t.Helper()
	o := h.opts
	o.Config = h.cfg
	e, err := escalation.New(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

// at moves the clock to T0+d and lets the escalator work: transitions from
// the outbox (as the relay would publish them), due steps, deliveries.
func (h *harness) at(d time.Duration) {
	h.t.Helper()
	h.clock.Set(T0.Add(d))
	h.run(h.esc)
}

func (h *harness) run(e *escalation.Escalator) {
	h.t.Helper()
	ctx := h.t.Context()
	for range 20 {
		n := h.pump(e)
		if err := e.RunDue(ctx); err != nil {
			h.t.Fatal(err)
		}
		sent, err := e.Deliver(ctx)
		if err != nil {
			h.t.Logf("deliver: %v", err)
		}
		if n == 0 && sent == 0 && h.pending() == 0 {
			return
		}
	}
}

func (h *harness) pending() int {
	p, err := h.store.Pending(h.t.Context(), 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(p)
}

// pump hands the outbox to the escalator as the relay would publish it.
func (h *harness) pump(e *escalation.Escalator) int {
	h.t.Helper()
	ctx := h.t.Context()
	total := 0
	for {
		p, err := h.store.Pending(ctx, 1000)
		if err != nil {
			h.t.Fatal(err)
		}
		if len(p) == 0 {
			return total
		}
		var keys []ledger.EntryKey
		for _, entry := range p {
			inc, err := h.store.Incident(ctx, entry.IncidentID)
			if err != nil {
				h.t.Fatal(err)
			}
			if err := e.Handle(ctx, bus.Transition{Entry: entry, Incident: inc}); err != nil {
				h.t.Fatal(err)
			}
			keys = append(keys, ledger.EntryKey{IncidentID: entry.IncidentID, Seq: entry.Seq})
		}
		if err := h.store.MarkPublished(ctx, keys); err != nil {
			h.t.Fatal(err)
		}
		total += len(p)
	}
}

func (h *harness) event(id, target, check string, sev incident.Severity, st incident.Status) int64 {
	h.t.Helper()
	ch, err := h.store.ApplyEvents(h.t.Context(), []incident.Event{{ID: id, Source: "test", Target: target, Check: check,
		Severity: sev, Status: st, Message: check + " failed on " + target, Time: h.clock.Now(), Runbook: "ping-down"}})
	if err != nil {
		h.t.Fatal(err)
	}
	return ch[0].IncidentID
}

func (h *harness) open(target, check string) int64 {
	return h.event(incident.NewID(), target, check, incident.Critical, incident.Problem)
}

func (h *harness) act(id int64, k incident.Kind, by string) {
	h.t.Helper()
	if _, _, err := h.store.Transition(h.t.Context(), id, incident.Action{Kind: k, By: by, At: h.clock.Now()}); err != nil {
		h.t.Fatal(err)
	}
}

// mails returns who each accepted mail went to, and its subject.
func (h *harness) mails() []string {
	var out []string
	for _, m := range h.smtp.Messages() {
		subj, _, _, err := mailtest.Decode(m.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, strings.Join(m.To, ",")+" "+subj)
	}
	return out
}

func (h *harness) wantMails(want ...string) {
	h.t.Helper()
	got := h.mails()
	if len(got) != len(want) {
		h.t.Fatalf("%d mails:\n  %s\nwant %d:\n  %s", len(got), strings.Join(got, "\n  "), len(want), strings.Join(want, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			h.t.Fatalf("mail %d = %q, want prefix %q\nall:\n  %s", i, got[i], want[i], strings.Join(got, "\n  "))
		}
	}
}

// wantSentOnce fails the test unless every notification of the incident
// was sent, after one attempt; it returns them.
func (h *harness) wantSentOnce(id int64) []ledger.Notification {
	h.t.Helper()
	ns, err := h.es.Notifications(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, n := range ns {
		if n.State != ledger.NotifySent || n.Attempts != 1 {
			h.t.Errorf("notification %s: %s after %d attempts, want sent after 1", n.Key, n.State, n.Attempts)
		}
	}
	return ns
}

func (h *harness) timeline(id int64) []incident.Entry {
	es, err := h.store.Timeline(h.t.Context(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	return es
}

func kinds(es []incident.Entry) string {
	var k []string
	for _, e := range es {
		k = append(k, string(e.Kind))
	}
	return strings.Join(k, " ")
}

const (
	toOperator = "desk-phone@example.com,desk@example.com [CRITICAL] web01: http"
	toSE       = "sato@example.com [CRITICAL] web01: http"
	toManager  = "kato@example.com [CRITICAL] web01: http"
)

func forEachStore(t *testing.T, fn func(t *testing.T, open opener)) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) { t.Parallel(); fn(t, open) })
	}
}

func TestStepTiming(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		id := h.open("web01", "http")
		h.at(0)
		h.wantMails(toOperator)
		h.at(5*time.Minute - time.Second)
		h.wantMails(toOperator)
		h.at(5 * time.Minute)
		h.wantMails(toOperator, toSE)
		if posts := h.hook.Posts(); len(posts) != 1 || posts[0].Status != "firing" || posts[0].Alerts[0].Labels["instance"] != "web01" {
			t.Fatalf("webhook posts = %+v, want one firing alert for web01", posts)
		}
		h.at(15*time.Minute - time.Second)
		h.wantMails(toOperator, toSE)
		h.at(15 * time.Minute)
		h.wantMails(toOperator, toSE, toManager)
		h.at(2 * time.Hour)
		h.wantMails(toOperator, toSE, toManager)
		esc, err := h.es.Escalation(t.Context(), id)
		if err != nil || esc.State != ledger.EscDone || esc.Level != 3 || esc.Policy != "default" {
			t.Fatalf("escalation = %+v, %v; want done at level 3", esc, err)
		}
		tl := kinds(h.timeline(id))
		if tl != "opened step notified step notified notified step notified step" {
			t.Errorf("timeline: %s", tl)
		}
	})
}

func TestMailContent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, stores()["sqlite"], nil)
	id := h.open("db01", "ping")
	h.at(0)
	msgs := h.smtp.Wait(t, 1, time.Second)
	subj, body, _, err := mailtest.Decode(msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	if subj != "[CRITICAL] db01: ping - ping failed on db01" {
		t.Errorf("subject %q", subj)
	}
	for _, want := range []string{"Server:   db01\n", "Time:     2026-11-23 11:00:00 JST\n", "Fault:    ping (critical)\n",
		"Content:  ping failed on db01\n", fmt.Sprintf("Incident: https://unyo.example/incidents/%d\n", id),
		"Runbook:  https://unyo.example/runbooks/ping-down\n", "Escalation step 1 (operator)"} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	if len(msgs[0].To) != 2 {
		t.Errorf("recipients %v, want the desk's two addresses", msgs[0].To)
	}
}

func TestAckStops(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, func(c *escalation.Config, _ *escalation.Options) { c.Policies[0].AckTimeout = 0 })
		id := h.open("web01", "http")
		h.at(0)
		h.at(time.Minute)
		h.act(id, incident.KindAcknowledged, "yamada")
		h.at(2 * time.Minute)
		h.at(3 * time.Hour)
		h.wantMails(toOperator)
		esc, _ := h.es.Escalation(t.Context(), id)
		if esc.State != ledger.EscAcknowledged || esc.NextAt != nil {
			t.Errorf("escalation = %+v, want acknowledged with nothing scheduled", esc)
		}
	})
}

func TestAckTimeoutRetriggers(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		id := h.open("web01", "http")
		h.at(0)
		h.at(time.Minute)
		h.act(id, incident.KindAcknowledged, "yamada")
		h.at(31*time.Minute - time.Second)
		h.wantMails(toOperator)
		h.at(31 * time.Minute) // acknowledged at +1m, ack_timeout 30m
		h.wantMails(toOperator, toOperator)
		h.at(36 * time.Minute)
		h.wantMails(toOperator, toOperator, toSE)
		esc, _ := h.es.Escalation(t.Context(), id)
		if esc.Cycle != 1 {
			t.Errorf("cycle %d, want 1", esc.Cycle)
		}
		// Resolving sends one recovery notice per destination told.
		h.act(id, incident.KindResolved, "yamada")
		h.at(37 * time.Minute)
		got := h.mails()
		if len(got) != 5 || !strings.Contains(got[3], "[RESOLVED] web01: http") || !strings.Contains(got[4], "[RESOLVED]") {
			t.Fatalf("mails after resolve:\n  %s", strings.Join(got, "\n  "))
		}
		if posts := h.hook.Posts(); len(posts) != 2 || posts[1].Status != "resolved" {
			t.Errorf("webhook posts %d, last %q; want a resolved post", len(posts), posts[len(posts)-1].Status)
		}
		h.at(5 * time.Hour)
		if n := len(h.mails()); n != 5 {
			t.Errorf("%d mails after the end, want 5", n)
		}
	})
}

// TestRestartMidEscalation: an escalator that recorded a step but died
// before sending, and one that is replaced between steps: the next one
// sends what was recorded, runs the next step once, and never sends a step
// twice — also when two run at once (an old and a new leader).
func TestRestartMidEscalation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		id := h.open("web01", "http")
		h.clock.Set(T0)
		h.pump(h.esc)
		if err := h.esc.RunDue(t.Context()); err != nil { // step 1 recorded...
			t.Fatal(err)
		}
		h.wantMails() // ...not sent: the process dies here.

		second := h.newEscalator()
		h.run(second)
		h.wantMails(toOperator)

		// Two escalators (old and new leader) both find step 2 due.
		third := h.newEscalator()
		h.clock.Set(T0.Add(5 * time.Minute))
		var wg sync.WaitGroup
		for _, e := range []*escalation.Escalator{second, third} {
			wg.Go(func() {
				if err := e.RunDue(t.Context()); err != nil {
					t.Error(err)
				}
				if _, err := e.Deliver(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		h.run(third)
		h.wantMails(toOperator, toSE)
		h.esc = third
		h.at(15 * time.Minute)
		h.wantMails(toOperator, toSE, toManager)
		ns := h.wantSentOnce(id)
		if len(ns) != 4 { // operator mail, SE mail + webhook, manager mail
			t.Errorf("%d notifications, want 4", len(ns))
		}
	})
}

func TestMaintenanceSuppressesThenReleases(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		end := T0.Add(time.Hour)
		if _, err := h.es.AddMaintenance(t.Context(), ledger.Maintenance{Name: "swap disks", Scope: ledger.ScopeTarget, Match: "web*",
			Start: T0.Add(-time.Minute), End: &end, CreatedBy: "sato"}); err != nil {
			t.Fatal(err)
		}
		id := h.open("web01", "http")
		other := h.open("db01", "ping")
		h.at(0)
		h.wantMails("desk-phone@example.com,desk@example.com [CRITICAL] db01: ping")
		h.act(other, incident.KindResolved, "x")
		h.at(30 * time.Minute)
		h.at(59 * time.Minute)
		if n := len(h.mails()); n != 2 { // db01 problem + recovery
			t.Fatalf("%d mails during the window, want only db01's 2", n)
		}
		tl := h.timeline(id)
		if tl[1].Kind != incident.KindSuppressed || !strings.Contains(tl[1].Comment, "maintenance") {
			t.Fatalf("timeline %s: want a suppressed entry naming the window", kinds(tl))
		}
		h.at(time.Hour)
		got := h.mails()
		if len(got) != 3 || !strings.HasPrefix(got[2], "desk-phone@example.com,desk@example.com [STILL OPEN] web01: http") {
			t.Fatalf("mails after the window:\n  %s", strings.Join(got, "\n  "))
		}
	})
}

func TestRecurringMaintenance(t *testing.T) {
	t.Parallel()
	// Monthly on the 1st at 01:00 Tokyo time, for 12 hours.
	m := ledger.Maintenance{Name: "monthly", Scope: ledger.ScopeSite, Match: "tokyo-1", Start: T0.AddDate(0, -6, 0),
		Cron: "0 1 1 * *", Duration: 12 * time.Hour, TimeZone: "Asia/Tokyo", CreatedBy: "x"}
	if err := escalation.CheckMaintenance(m); err != nil {
		t.Fatal(err)
	}
	jst, _ := time.LoadLocation("Asia/Tokyo")
	for _, tt := range []struct {
		at   time.Time
		on   bool
		till time.Time
	}{
		{time.Date(2026, 12, 1, 0, 59, 0, 0, jst), false, time.Time{}},
		{time.Date(2026, 12, 1, 1, 0, 0, 0, jst), true, time.Date(2026, 12, 1, 13, 0, 0, 0, jst)},
		{time.Date(2026, 12, 1, 12, 59, 0, 0, jst), true, time.Date(2026, 12, 1, 13, 0, 0, 0, jst)},
		{time.Date(2026, 12, 1, 13, 0, 0, 0, jst), false, time.Time{}},
		{time.Date(2026, 12, 2, 3, 0, 0, 0, jst), false, time.Time{}},
	} {
		on, till := escalation.ActiveWindow(m, tt.at)
		if on != tt.on || !till.Equal(tt.till) {
			t.Errorf("at %s: %v until %s, want %v until %s", tt.at, on, till, tt.on, tt.till)
		}
	}
	inc := incident.Incident{Target: "web01", Labels: map[string]string{"site": "tokyo-1", "role": "db"}}
	if !escalation.MatchesWindow(m, inc) {
		t.Error("site window does not match")
	}
	if !escalation.MatchesWindow(ledger.Maintenance{Scope: ledger.ScopeTag, Match: "role=db"}, inc) {
		t.Error("tag window does not match")
	}
	bad := m
	bad.Cron = "every day"
	if escalation.CheckMaintenance(bad) == nil {
		t.Error("bad cron accepted")
	}
}

func TestParentDownSuppressesChild(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, func(_ *escalation.Config, o *escalation.Options) {
			o.Parents = func(target string) string {
				if strings.HasPrefix(target, "web") {
					return "sw01"
				}
				return ""
			}
		})
		h.open("sw01", "ping")
		h.at(0)
		child := h.open("web01", "http")
		h.at(time.Second)
		h.wantMails("desk-phone@example.com,desk@example.com [CRITICAL] sw01: ping")
		tl := h.timeline(child)
		if len(tl) < 2 || tl[1].Kind != incident.KindSuppressed || !strings.Contains(tl[1].Comment, "unreachable: parent sw01 is down") {
			t.Fatalf("child timeline %s (%+v)", kinds(tl), tl)
		}
		h.at(4 * time.Minute)
		h.wantMails("desk-phone@example.com,desk@example.com [CRITICAL] sw01: ping")
	})
}

// A down host pages once: an SNMP incident of a target whose ping incident
// is active is suppressed as unreachable (issue 17 item 2).
func TestTargetDownSuppressesItsOtherChecks(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		h.open("web01", "ping")
		h.at(0)
		other := h.open("web01", "snmp")
		h.at(time.Second)
		h.wantMails("desk-phone@example.com,desk@example.com [CRITICAL] web01: ping")
		tl := h.timeline(other)
		if len(tl) < 2 || tl[1].Kind != incident.KindSuppressed || !strings.Contains(tl[1].Comment, "unreachable: web01 is down") {
			t.Fatalf("snmp timeline %s (%+v)", kinds(tl), tl)
		}
	})
}

func TestStormOfOneTargetSendsOneMessage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, func(c *escalation.Config, _ *escalation.Options) { c.Storm.GroupWait = 10 * time.Second })
		evs := make([]incident.Event, 1000)
		for i := range evs {
			evs[i] = incident.Event{ID: fmt.Sprintf("storm-%d", i), Source: "test", Target: "web01", Check: fmt.Sprintf("disk:/d%03d", i),
				Severity: incident.Major, Status: incident.Problem, Message: "disk full", Time: T0}
		}
		for i := 0; i < len(evs); i += 250 {
			if _, err := h.store.ApplyEvents(t.Context(), evs[i:i+250]); err != nil {
				t.Fatal(err)
			}
		}
		h.at(0)
		h.wantMails()
		h.at(10 * time.Second)
		got := h.smtp.Messages()
		if len(got) != 1 {
			t.Fatalf("%d mails for a storm of 1000, want 1 grouped", len(got))
		}
		subj, body, _, _ := mailtest.Decode(got[0].Data)
		if !strings.HasPrefix(subj, "[MAJOR] web01: 1000 faults (") || !strings.Contains(body, "1000 faults grouped in one message.") ||
			!strings.Contains(body, "... and 980 more") {
			t.Errorf("subject %q\nbody:\n%s", subj, body)
		}
		h.at(11 * time.Second)
		if n := len(h.smtp.Messages()); n != 1 {
			t.Errorf("%d mails, want still 1", n)
		}
	})
}

func TestFailingNotifierRaisesIncident(t *testing.T) {
	t.Parallel()
	h := newHarness(t, stores()["sqlite"], nil)
	h.smtp.Fail(421)
	id := h.open("web01", "http")
	h.at(0)
	h.at(time.Minute) // retry 1 after 1m
	h.at(3 * time.Minute)
	ns, _ := h.es.Notifications(t.Context(), id)
	if len(ns) != 1 || ns[0].State != ledger.NotifyFailed || ns[0].Attempts != 3 {
		t.Fatalf("notification = %+v, want failed after 3 attempts", ns)
	}
	tl := kinds(h.timeline(id))
	if strings.Count(tl, "notify-failed") != 3 {
		t.Errorf("timeline %s: want 3 notify-failed entries", tl)
	}
	h.sink.mu.Lock()
	defer h.sink.mu.Unlock()
	if len(h.sink.evs) != 1 || h.sink.evs[0].Check != "notifier:mail" || h.sink.evs[0].Target != "n1" || h.sink.evs[0].Status != incident.Problem {
		t.Fatalf("platform events = %+v, want one problem for notifier:mail", h.sink.evs)
	}
}

func TestFlappingNotifiedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t, stores()["sqlite"], nil)
	id := h.open("web01", "http")
	h.at(0)
	for i := range 4 {
		h.event(incident.NewID(), "web01", "http", incident.Critical, incident.OK)
		h.at(time.Duration(2*i+1) * time.Second)
		h.event(incident.NewID(), "web01", "http", incident.Critical, incident.Problem)
		h.at(time.Duration(2*i+2) * time.Second)
	}
	h.at(time.Hour)
	got := h.mails()
	if len(got) != 2 || !strings.Contains(got[1], "[FLAPPING] web01: http") {
		t.Fatalf("mails:\n  %s\nwant the problem and one flapping notice", strings.Join(got, "\n  "))
	}
	if tl := kinds(h.timeline(id)); strings.Count(tl, "flapping") != 1 {
		t.Errorf("timeline %s", tl)
	}
}

func TestHelpDeskOffDutyIsSkipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, stores()["sqlite"], func(c *escalation.Config, _ *escalation.Options) {
		c.Policies[0].Steps[0].Roles = []string{"operator", "help-desk"}
		c.Policies[0].AckTimeout = 0
	})
	h.clock.Set(T0)
	// 11:00 Monday in Tokyo: on duty.
	first := h.open("web01", "http")
	h.at(0)
	h.act(first, incident.KindAcknowledged, "yamada")
	if got := h.mails(); len(got) != 1 || !strings.HasPrefix(got[0], "desk-phone@example.com,desk@example.com,help@example.com ") {
		t.Fatalf("weekday mails %v, want operator and help desk together", got)
	}
	// 20:00 in Tokyo: off duty.
	h.clock.Set(T0.Add(9 * time.Hour))
	id := h.open("web02", "http")
	h.at(9 * time.Hour)
	got := h.mails()
	if len(got) != 2 || !strings.HasPrefix(got[1], "desk-phone@example.com,desk@example.com [") {
		t.Fatalf("evening mails %v, want operator only", got)
	}
	if tl := h.timeline(id); !strings.Contains(tl[1].Comment, "off duty now: help-desk") {
		t.Errorf("step entry %q does not say the help desk is off duty", tl[1].Comment)
	}
	cfg := h.esc.Config()
	oc := cfg.OnCall(T0.Add(9 * time.Hour))
	for _, r := range oc {
		if r.Role == "help-desk" && (r.OnDuty || r.NextOnDuty == nil) {
			t.Errorf("oncall %+v", r)
		}
	}
}

func TestConfigCrossReferences(t *testing.T) {
	t.Parallel()
	c := baseConfig()
	c.Policies[0].Steps[1].Roles = []string{"nobody"}
	c.Roles[0].Contacts = []string{"ghost"}
	c.Calendars[0].TimeZone = "Mars/Olympus"
	err := c.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`policies[0].steps[1].roles[0]: "nobody": no such role`,
		`roles[0].contacts[0]: "ghost": no such contact`,
		`calendars[0].time_zone: "Mars/Olympus": unknown time zone`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestExportCSV(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		id := h.open("web01", "http")
		h.at(0)
		h.at(5 * time.Minute)
		h.clock.Set(T0.Add(7 * time.Minute))
		h.act(id, incident.KindAcknowledged, "yamada")
		h.clock.Set(T0.Add(40 * time.Minute))
		h.act(id, incident.KindResolved, "yamada")
		if _, _, err := h.es.SetReport(t.Context(), ledger.Report{IncidentID: id, Cause: "PSU failed", Action: "replaced",
			Prevention: "dual PSU", ReportedBy: "yamada", Role: "operator"}); err != nil {
			t.Fatal(err)
		}
		h.clock.Set(T0.Add(2 * time.Hour))
		h.open("db01", "ping") // outside the range
		var b strings.Builder
		n, err := escalation.ExportCSV(t.Context(), h.store, T0.Add(-time.Hour), T0.Add(time.Hour), &b)
		if err != nil || n != 1 {
			t.Fatalf("ExportCSV = %d, %v", n, err)
		}
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,target,check,severity,state,opened_at,acknowledged_at,resolved_at") {
			t.Fatalf("csv:\n%s", b.String())
		}
		want := fmt.Sprintf("%d,web01,http,critical,resolved,2026-11-23T02:00:00Z,2026-11-23T02:07:00Z,2026-11-23T02:40:00Z,,420,2400,default,2,yamada,yamada,1,http failed on web01,PSU failed,replaced,dual PSU,yamada,operator", id)
		if lines[1] != want {
			t.Errorf("row\n got %s\nwant %s", lines[1], want)
		}
	})
}
