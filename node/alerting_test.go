package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/mail"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/node"
)

// alertingNode starts a node on SQLite and the embedded bus with alerting
// sending mail to an in-process SMTP server.
func alertingNode(t testing.TB, groupWait time.Duration) (*node.Node, *mailtest.Server, *client.Client) {
	t.Helper()
	srv := mailtest.New(t)
	dir := t.TempDir()
	o := node.Options{
		Name:       "n1",
		Auth:       node.AuthOptions{BootstrapToken: adminToken},
		Logger:     testLogger(t),
		HTTPListen: "127.0.0.1:0",
		Bus:        bus.Options{StoreDir: filepath.Join(dir, "js")},
		OpenStore: func(ctx context.Context) (ledger.Store, error) {
			return sqlite.Open(ctx, filepath.Join(dir, "ledger.db"))
		},
		Alerting: node.AlertingOptions{
			Enabled: true,
			Config: escalation.Config{
				Contacts: []escalation.Contact{{Name: "desk", Mail: []string{"desk@example.com"}}},
				Roles:    []escalation.Role{{Name: "operator", Contacts: []string{"desk"}}},
				Policies: []escalation.Policy{{Name: "default", Steps: []escalation.Step{
					{Roles: []string{"operator"}, Channels: []string{"mail"}, Wait: time.Hour}}}},
				Storm:       escalation.Storm{GroupWait: groupWait},
				Retry:       notify.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, MaxAttempts: 5},
				ExternalURL: "https://unyo.example",
			},
			Mail:               &mail.Config{Host: srv.Host(), Port: srv.Port(), From: "unyo@example.com", TLS: mail.TLSNone, Timeout: 5 * time.Second},
			DefaultMaintenance: time.Hour,
		},
	}
	n, err := node.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	return n, srv, adminClient(t, n.URL())
}

func TestAlertingEndToEnd(t *testing.T) {
	n, srv, c := alertingNode(t, 0)
	ctx := t.Context()
	if !n.Escalator().Active() {
		t.Fatal("escalator is not active on a single node")
	}
	// Maintenance on db*: its fault is recorded, not mailed.
	mw, err := c.AddMaintenance(ctx, console.MaintenanceRequest{Name: "swap disks", Scope: "target", Match: "db*"})
	if err != nil {
		t.Fatal(err)
	}
	if !mw.Active || mw.End == nil || mw.End.Sub(mw.Start) != time.Hour {
		t.Fatalf("window %+v: want active for the default hour", mw)
	}
	if _, err := c.SendEvents(ctx,
		incident.Event{Target: "db01", Check: "ping", Severity: incident.Critical, Message: "down"},
		incident.Event{Target: "web01", Check: "http", Severity: incident.Critical, Message: "503", Runbook: "http-down"}); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 15*time.Second)
	subj, body, _, _ := mailtest.Decode(got[0].Data)
	if !strings.HasPrefix(subj, "[CRITICAL] web01: http") || !strings.Contains(body, "Runbook:  https://unyo.example/runbooks/http-down") {
		t.Fatalf("mail %q\n%s", subj, body)
	}
	incs, err := c.Incidents(ctx, client.ListOptions{Target: "web01"})
	if err != nil || len(incs) != 1 {
		t.Fatal(incs, err)
	}
	id := incs[0].ID
	// The delivery is in the timeline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.Incident(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var ks []incident.Kind
		for _, e := range d.Timeline {
			ks = append(ks, e.Kind)
		}
		if slices.Contains(ks, incident.KindNotified) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timeline %v: no notified entry", ks)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Ending the window releases db01's notification (within the recheck).
	ms, err := c.Maintenances(ctx)
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	if _, err := c.EndMaintenance(ctx, mw.ID); err != nil {
		t.Fatal(err)
	}

	roles, err := c.OnCall(ctx, time.Time{})
	if err != nil || len(roles) != 1 || roles[0].Role != "operator" || !roles[0].OnDuty || roles[0].Contacts[0].Mail[0] != "desk@example.com" {
		t.Fatalf("oncall = %+v, %v", roles, err)
	}

	// Resolve, report, export.
	if _, err := c.SetReport(ctx, id, console.ReportRequest{Cause: "x"}); err == nil {
		t.Fatal("report on an open incident accepted")
	}
	if _, err := c.Act(ctx, id, "resolve", "restarted"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetReport(ctx, id, console.ReportRequest{Cause: "worker pool exhausted", Action: "restarted",
		Prevention: "pool limit alarm"}); err != nil {
		t.Fatal(err)
	}
	rv, err := c.Report(ctx, id)
	if err != nil || rv.Report == nil || rv.Report.Cause != "worker pool exhausted" || rv.Escalation == nil || rv.Escalation.Level != 1 {
		t.Fatalf("report = %+v, %v", rv, err)
	}
	var csv strings.Builder
	if err := c.Export(ctx, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "", &csv); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csv.String(), fmt.Sprintf("\n%d,web01,http,critical,resolved,", id)) || !strings.Contains(csv.String(), "worker pool exhausted") {
		t.Fatalf("csv:\n%s", csv.String())
	}
	// The recovery notice.
	got = srv.Wait(t, 2, 15*time.Second)
	resolved := false
	for _, m := range got {
		if s, _, _, _ := mailtest.Decode(m.Data); strings.HasPrefix(s, "[RESOLVED] web01") {
			resolved = true
		}
	}
	if !resolved {
		t.Errorf("no recovery notice among %d mails", len(got))
	}
}

// BenchmarkOpenedToMailAccepted measures incident opened (ledger
// opened_at) → mail accepted by the SMTP server, through the whole node:
// API → bus → ledger → outbox relay → escalator → SMTP. Step wait and
// storm.group_wait are 0 (goal ≤ 1 s), then group_wait is 1s (goal ≤ 2 s).
func BenchmarkOpenedToMailAccepted(b *testing.B) {
	for _, gw := range []time.Duration{0, time.Second} {
		b.Run("group_wait="+gw.String(), func(b *testing.B) { benchOpenedToMail(b, gw) })
	}
}

func benchOpenedToMail(b *testing.B, groupWait time.Duration) {
	_, srv, c := alertingNode(b, groupWait)
	ctx := context.Background()
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		target := fmt.Sprintf("bench%06d", i)
		if _, err := c.SendEvents(ctx, incident.Event{Target: target, Check: "ping", Severity: incident.Critical, Message: "down"}); err != nil {
			b.Fatal(err)
		}
		msgs := srv.Wait(b, i+1, 30*time.Second)
		acc := msgs[i].At
		incs, err := c.Incidents(ctx, client.ListOptions{Target: target})
		if err != nil || len(incs) != 1 {
			b.Fatal(incs, err)
		}
		lat = append(lat, acc.Sub(incs[0].OpenedAt))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}
