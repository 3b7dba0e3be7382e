package test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// Timings of the alerting config below; the assertions derive their bounds
// from them.
const (
	alGroupWait = 300 * time.Millisecond // alerting.storm.group_wait
	alStep1Wait = 2 * time.Second        // policy "page", step 1 wait
	alStep2Wait = 4 * time.Second        // policy "page", step 2 wait
	alRecheck   = time.Second            // alerting.maintenance.recheck
	// alPoll is the escalator's poll interval (escalation.Options.PollInterval
	// default): a step that comes due is found within it.
	alPoll = time.Second
	// alExternal is http.external_url; links in messages start with it.
	alExternal = "https://ops.example.com/unyo"
)

// TestAlerting drives escalation and notification through the real binary:
// `unyo serve` on the embedded default (SQLite ledger, embedded NATS) with
// an alerting section that mails an in-process SMTP server and posts to a
// real HTTP webhook receiver. Events come in over POST /api/v1/events; the
// operator uses the command line: oncall, incident ack/resolve/report,
// maintenance add/list/end, ledger export. Each acts with a user's own API
// token (alice and bob operators, kato an operations SE): the names in the
// timeline, the mails, the report and the export are the identities'.
func TestAlerting(t *testing.T) {
	t.Parallel()
	smtp := mailtest.New(t)
	hooks := newHookRecorder(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: e2e
  data_dir: %[1]q
http:
  listen: %[2]q
  external_url: %[3]q
cluster:
  bind: 127.0.0.1:0
log:
  level: debug
alerting:
  enabled: true
  time_zone: Asia/Tokyo
  smtp: {host: 127.0.0.1, port: %[4]d, from: unyo@example.com, tls: none, timeout: 5s}
  webhook: {url: %[5]q, timeout: 5s}
  notify: {retry_backoff: 1s, max_backoff: 2s, max_attempts: 3}
  storm: {group_wait: %[6]s}
  maintenance: {recheck: %[7]s}
  calendars:
    - {name: office, time_zone: Asia/Tokyo, days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
  contacts:
    - {name: desk, mail: [desk@example.com], webhook: %[8]q}
    - {name: se, mail: [se@example.com]}
    - {name: help, mail: [help@example.com]}
  roles:
    - {name: operator, contacts: [desk]}
    - {name: operations-se, contacts: [se]}
    - {name: help-desk, contacts: [help], calendar: office}
  policies:
    - name: page
      steps:
        - {roles: [operator, help-desk], channels: [mail, webhook], wait: %[9]s}
        - {roles: [operations-se], channels: [mail], wait: %[10]s}
      repeat: 1
`, dir, addr, alExternal, smtp.Port(), hooks.URL+"/default", alGroupWait, alRecheck, hooks.URL+"/desk", alStep1Wait, alStep2Wait)
	p := serveYAML(t, dir, addr, cfg)
	srv := "--server=" + p.URL
	alice := addUser(t, p.URL, "alice", "operator")
	bob := addUser(t, p.URL, "bob", "operator")
	kato := addUser(t, p.URL, "kato", "ops-se")

	show := func(t *testing.T, id int64) console.IncidentDetail {
		t.Helper()
		var d console.IncidentDetail
		out := unyo(t, 0, "incident", "show", itoa(id), srv, "-o", "json")
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("incident show -o json: %v\n%s", err, out)
		}
		return d
	}
	report := func(t *testing.T, id int64) console.ReportView {
		t.Helper()
		var v console.ReportView
		out := unyo(t, 0, "incident", "report", itoa(id), srv, "-o", "json")
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("incident report -o json: %v\n%s", err, out)
		}
		return v
	}
	// waitIncident waits for the one incident of target and returns it.
	waitIncident := func(t *testing.T, target string) incident.Incident {
		t.Helper()
		var incs []incident.Incident
		waitFor(t, "an incident for "+target, func() bool {
			out := unyo(t, 0, "incident", "list", srv, "-o", "json", "--target", target)
			incs = nil
			if err := json.Unmarshal([]byte(out), &incs); err != nil {
				t.Fatalf("incident list -o json: %v\n%s", err, out)
			}
			return len(incs) > 0
		})
		if len(incs) != 1 {
			t.Fatalf("%d incidents for %s, want 1: %+v", len(incs), target, incs)
		}
		return incs[0]
	}
	maintenances := func(t *testing.T) []console.MaintenanceView {
		t.Helper()
		var ms []console.MaintenanceView
		out := unyo(t, 0, "maintenance", "list", "--all", srv, "-o", "json")
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("maintenance list -o json: %v\n%s", err, out)
		}
		return ms
	}

	// officeOpen is the help desk's calendar, computed here rather than by
	// the product: weekdays 09:00-17:00 in Tokyo.
	officeOpen := func(at time.Time) bool {
		lt := at.In(tokyo)
		return lt.Weekday() >= time.Monday && lt.Weekday() <= time.Friday && lt.Hour() >= 9 && lt.Hour() < 17
	}
	officeNextOpen := func(at time.Time) time.Time {
		lt := at.In(tokyo)
		for d := 0; d < 8; d++ {
			day := lt.AddDate(0, 0, d)
			start := time.Date(day.Year(), day.Month(), day.Day(), 9, 0, 0, 0, tokyo)
			if start.After(at) && officeOpen(start) {
				return start
			}
		}
		return time.Time{} // never: the comparison below fails
	}

	var (
		dbID          int64 // the incident of section 2, acknowledged, then resolved in section 4
		helpOnDuty    bool  // whether the help desk was on duty when db01's step 1 ran
		helpDutyKnown bool
	)

	t.Run("oncall", func(t *testing.T) {
		before := time.Now()
		table := unyo(t, 0, "oncall", srv)
		var roles []escalation.OnCall
		if err := json.Unmarshal([]byte(unyo(t, 0, "oncall", srv, "-o", "json")), &roles); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		byRole := map[string]escalation.OnCall{}
		for _, r := range roles {
			byRole[r.Role] = r
		}
		if len(roles) != 3 {
			t.Errorf("oncall lists %d roles, want 3: %+v", len(roles), roles)
		}
		op := byRole["operator"]
		if !op.OnDuty || len(op.Contacts) != 1 || !slices.Contains(op.Contacts[0].Mail, "desk@example.com") {
			t.Errorf("operator: %+v, want on duty reaching desk@example.com", op)
		}
		line := tableLine(table, "operator")
		if !strings.Contains(line, "desk@example.com") || !strings.Contains(line, "yes") || !strings.Contains(line, "webhook") {
			t.Errorf("oncall table, operator line %q:\n%s", line, table)
		}
		if se := tableLine(table, "operations-se"); !strings.Contains(se, "se@example.com") {
			t.Errorf("oncall table lacks se@example.com for operations-se:\n%s", table)
		}

		// The help desk is on duty on weekdays 9-17 in Tokyo. Skip the
		// check when the calendar flipped while the commands ran.
		hd := byRole["help-desk"]
		if hd.Calendar != "office" || len(hd.Contacts) != 1 || !slices.Contains(hd.Contacts[0].Mail, "help@example.com") {
			t.Errorf("help-desk: %+v", hd)
		}
		if want := officeOpen(before); want != officeOpen(after) {
			t.Logf("the office calendar changed state during the check (%s): not asserting help-desk duty", before.In(tokyo))
		} else {
			hline := tableLine(table, "help-desk")
			if hd.OnDuty != want {
				t.Errorf("help-desk on duty %v at %s (Tokyo), want %v", hd.OnDuty, before.In(tokyo).Format("Mon 15:04"), want)
			}
			if want {
				if hd.NextOnDuty != nil || !strings.Contains(hline, "yes") {
					t.Errorf("help-desk on duty, but next_on_duty %v, table line %q", hd.NextOnDuty, hline)
				}
			} else {
				next := officeNextOpen(before)
				if hd.NextOnDuty == nil || !hd.NextOnDuty.Equal(next) {
					t.Errorf("help-desk off duty, next_on_duty %v, want %s", hd.NextOnDuty, next)
				}
				if !strings.Contains(hline, "no (from ") {
					t.Errorf("help-desk table line %q, want \"no (from ...)\"", hline)
				}
			}
		}

		// --at: a Monday morning and a Sunday in Tokyo, whatever today is.
		for _, c := range []struct {
			at   string
			on   bool
			next string
		}{
			{"2026-11-23T10:00:00+09:00", true, ""},
			{"2026-11-22T10:00:00+09:00", false, "2026-11-23T09:00:00+09:00"},
			{"2026-11-23T17:00:00+09:00", false, "2026-11-24T09:00:00+09:00"},
		} {
			var rs []escalation.OnCall
			if err := json.Unmarshal([]byte(unyo(t, 0, "oncall", "--at", c.at, srv, "-o", "json")), &rs); err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				switch r.Role {
				case "operator":
					if !r.OnDuty {
						t.Errorf("--at %s: operator (no calendar) off duty", c.at)
					}
				case "help-desk":
					if r.OnDuty != c.on {
						t.Errorf("--at %s: help-desk on duty %v, want %v", c.at, r.OnDuty, c.on)
					}
					if c.next != "" {
						want, _ := time.Parse(time.RFC3339, c.next)
						if r.NextOnDuty == nil || !r.NextOnDuty.Equal(want) {
							t.Errorf("--at %s: help-desk next on duty %v, want %s", c.at, r.NextOnDuty, want)
						}
					}
				}
			}
		}
	})

	t.Run("escalation", func(t *testing.T) {
		posted := time.Now()
		postEvent(t, p.URL, map[string]any{
			"target": "db01", "check": "ping", "severity": "critical",
			"message": "no reply from db01 (3 of 3 lost)", "runbook": "db-ping",
			"labels": map[string]string{"site": "tokyo-1"},
		})
		inc := waitIncident(t, "db01")
		dbID = inc.ID
		id := itoa(inc.ID)

		// Step 1: operator (and the help desk when on duty), mail and webhook.
		m1 := waitMail(t, smtp, "step 1 mail for db01", 15*time.Second, func(m mailMsg) bool {
			return slices.Contains(m.To, "desk@example.com") && strings.Contains(m.Subject, "db01")
		})
		if onBefore, onAfter := officeOpen(posted), officeOpen(m1.At); onBefore == onAfter {
			helpOnDuty, helpDutyKnown = onBefore, true
			if got := slices.Contains(m1.To, "help@example.com"); got != onBefore {
				t.Errorf("step 1 mail to %v: help@example.com included %v, want %v (help desk on duty at %s Tokyo)",
					m1.To, got, onBefore, posted.In(tokyo).Format("Mon 15:04"))
			}
		}
		for _, want := range []string{"[CRITICAL]", "db01", "ping"} {
			if !strings.Contains(m1.Subject, want) {
				t.Errorf("step 1 subject %q lacks %q", m1.Subject, want)
			}
		}
		for k, want := range map[string]string{
			"Server":   "db01",
			"Time":     inc.OpenedAt.In(tokyo).Format("2006-01-02 15:04:05 MST"),
			"Fault":    "ping (critical)",
			"Content":  "no reply from db01 (3 of 3 lost)",
			"Incident": alExternal + "/incidents/" + id,
			"Runbook":  alExternal + "/runbooks/db-ping",
		} {
			if got := bodyField(m1.Body, k); got != want {
				t.Errorf("step 1 body %s: %q, want %q\n%s", k, got, want, m1.Body)
			}
		}
		if !strings.Contains(m1.Body, "Escalation step 1 (operator") {
			t.Errorf("step 1 body does not name step 1 and the operator role:\n%s", m1.Body)
		}

		// The webhook: Alertmanager's payload, version 4, to desk's URL.
		h := hooks.wait(t, "step 1 webhook to /desk", 15*time.Second, func(h hookPost) bool {
			return h.Path == "/desk" && len(h.Payload.Alerts) > 0 && h.Payload.Alerts[0].Labels["incident_id"] == id
		})
		for _, k := range []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
			"commonLabels", "commonAnnotations", "externalURL", "alerts"} {
			if _, ok := h.Raw[k]; !ok {
				t.Errorf("webhook payload lacks %q: %s", k, h.Body)
			}
		}
		pl := h.Payload
		if pl.Version != "4" || pl.Status != "firing" || pl.ExternalURL != alExternal || len(pl.Alerts) != 1 ||
			!strings.Contains(pl.Receiver, "operator") || pl.GroupKey == "" || h.IdempotencyKey != pl.GroupKey {
			t.Errorf("webhook payload (Idempotency-Key %q): %s", h.IdempotencyKey, h.Body)
		}
		if len(pl.Alerts) > 0 {
			a := pl.Alerts[0]
			for k, want := range map[string]string{"alertname": "ping", "instance": "db01", "severity": "critical",
				"incident_id": id, "dedup_key": "db01/ping", "site": "tokyo-1"} {
				if a.Labels[k] != want {
					t.Errorf("alert label %s = %q, want %q", k, a.Labels[k], want)
				}
			}
			for k, want := range map[string]string{"summary": "no reply from db01 (3 of 3 lost)",
				"incident_url": alExternal + "/incidents/" + id, "runbook_url": alExternal + "/runbooks/db-ping",
				"kind": "problem", "escalation_level": "1"} {
				if a.Annotations[k] != want {
					t.Errorf("alert annotation %s = %q, want %q", k, a.Annotations[k], want)
				}
			}
			if a.Status != "firing" || !a.StartsAt.Equal(inc.OpenedAt) || !a.EndsAt.IsZero() ||
				a.GeneratorURL != alExternal+"/incidents/"+id || a.Fingerprint == "" {
				t.Errorf("alert %+v (opened %s)", a, inc.OpenedAt)
			}
		}
		if helpDutyKnown {
			// The help desk has no webhook of its own: alerting.webhook.url.
			got := hooks.count(func(h hookPost) bool { return h.Path == "/default" })
			if helpOnDuty && got == 0 {
				// Posted in the same delivery round as /desk; give it a moment.
				hooks.wait(t, "step 1 webhook to /default (help desk on duty)", 5*time.Second, func(h hookPost) bool { return h.Path == "/default" })
			} else if !helpOnDuty && got != 0 {
				t.Errorf("%d webhook posts to the default URL while the help desk is off duty", got)
			}
		}

		// Step 2: operations SE, after step 1's wait and not before. Step 1
		// ran after the event was posted, so step 2 is due no earlier than
		// posted+wait; it runs within a poll interval of that and is sent
		// after the group wait.
		m2 := waitMail(t, smtp, "step 2 mail to se@example.com", 15*time.Second, func(m mailMsg) bool {
			return slices.Contains(m.To, "se@example.com") && strings.Contains(m.Subject, "db01")
		})
		if early := posted.Add(alStep1Wait); m2.At.Before(early) {
			t.Errorf("step 2 mail at %s, before the step 1 wait ended (%s)", m2.At.Format(time.StampMilli), early.Format(time.StampMilli))
		}
		if late := m1.At.Add(alStep1Wait + alPoll + alGroupWait + 1500*time.Millisecond); m2.At.After(late) {
			t.Errorf("step 2 mail %s after step 1's, want about %s", m2.At.Sub(m1.At), alStep1Wait)
		}
		if !strings.Contains(m2.Subject, "[CRITICAL] db01: ping") || !strings.Contains(m2.Body, "Escalation step 2 (operations-se)") ||
			slices.Contains(m2.To, "desk@example.com") {
			t.Errorf("step 2 mail to %v: %q\n%s", m2.To, m2.Subject, m2.Body)
		}

		// Acknowledge: the escalation stops. Without it, repeat: 1 would run
		// step 1 again alStep2Wait after step 2 (plus up to a poll interval
		// and the group wait): the window watched below is longer than that.
		unyoAs(t, alice, 0, "incident", "ack", id, srv, "--comment", "on it")
		acked := time.Now()
		watch := m2.At.Add(alStep2Wait + alPoll + alGroupWait + time.Second).Sub(acked)
		watch = max(watch, alStep2Wait+time.Second)
		n := len(smtp.Messages())
		noMail(t, smtp, n, "further step mail for db01 after the acknowledgement", watch, func(m mailMsg) bool {
			return strings.Contains(m.Subject, "db01")
		})
		v := report(t, inc.ID)
		if e := v.Escalation; e == nil {
			t.Errorf("no escalation for incident %s", id)
		} else if e.Level != 2 || e.State != "acknowledged" || e.Policy != "page" {
			t.Errorf("escalation after ack: policy %s, level %d, state %s (%s), want page, 2, acknowledged", e.Policy, e.Level, e.State, e.Reason)
		}
		if v.Incident.State != incident.Acknowledged || v.Incident.AckedBy != "alice" {
			t.Errorf("incident after ack: %+v", v.Incident)
		}
		steps, afterAck := 0, false
		for _, e := range v.Timeline {
			switch {
			case e.Kind == incident.KindAcknowledged:
				afterAck = true
			case e.Kind == incident.KindStep && afterAck:
				t.Errorf("a step after the acknowledgement: %+v", e)
			case e.Kind == incident.KindStep:
				steps++
			}
		}
		if steps != 2 || !afterAck {
			t.Errorf("timeline has %d steps before the acknowledgement (want 2), acknowledged %v", steps, afterAck)
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		end := time.Now().Add(2 * time.Minute).Truncate(time.Second)
		add := []string{"maintenance", "add", srv, "--name", "kernel patch", "--target", "web0*",
			"--end", end.Format(time.RFC3339), "--comment", "reboot after patching", "-o", "json"}
		// An operator may not silence targets (maintenance.write is ops-se
		// and up): refused, nothing made.
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + alice}, add...)
		if code != 1 || !strings.Contains(errOut, "forbidden") || !strings.Contains(errOut, "403") {
			t.Errorf("maintenance add as an operator: exit %d, want 1 and 403 forbidden\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if ws := maintenances(t); len(ws) != 0 {
			t.Errorf("windows after a refused add: %+v", ws)
		}
		var w console.MaintenanceView
		out = unyoAs(t, kato, 0, add...)
		if err := json.Unmarshal([]byte(out), &w); err != nil {
			t.Fatalf("maintenance add -o json: %v\n%s", err, out)
		}
		if w.ID == 0 || !w.Active || w.Scope != "target" || w.Match != "web0*" || w.End == nil || !w.End.Equal(end) || w.CreatedBy != "kato" {
			t.Fatalf("window added: %+v", w)
		}
		wid := strconv.FormatInt(w.ID, 10)
		table := unyo(t, 0, "maintenance", "list", srv)
		line := tableLine(table, wid)
		for _, want := range []string{"kernel patch", "target web0*", "in force until", "kato"} {
			if !strings.Contains(line, want) {
				t.Errorf("maintenance list line %q lacks %q:\n%s", line, want, table)
			}
		}

		n := len(smtp.Messages())
		postEvent(t, p.URL, map[string]any{"target": "web02", "check": "http", "severity": "major", "message": "HTTP 503 from /health"})
		inc := waitIncident(t, "web02")
		id := itoa(inc.ID)
		waitFor(t, "a suppressed entry in web02's timeline", func() bool {
			for _, e := range show(t, inc.ID).Timeline {
				if e.Kind == incident.KindSuppressed {
					if !strings.Contains(e.Comment, "maintenance") || !strings.Contains(e.Comment, "window "+wid) {
						t.Errorf("suppressed entry %+v does not name window %s", e, wid)
					}
					return true
				}
			}
			return false
		})
		// Nothing is sent while the window is in force. Without it, step 1
		// would be mailed within a poll interval plus the group wait and
		// step 2 a step wait later: watch for longer than all of that.
		noMail(t, smtp, n, "mail for web02 during its maintenance window", alPoll+alGroupWait+alStep1Wait+time.Second,
			func(m mailMsg) bool { return strings.Contains(m.Subject+m.Body, "web02") })
		if c := hooks.count(func(h hookPost) bool { return strings.Contains(string(h.Body), "web02") }); c != 0 {
			t.Errorf("%d webhook posts for web02 during its maintenance window", c)
		}
		if d := show(t, inc.ID); d.Incident.State != incident.Open {
			t.Errorf("web02 incident %s during maintenance, want open", d.Incident.State)
		}

		// End the window: the still-open incident is notified at the next
		// recheck.
		ended := time.Now()
		out = unyoAs(t, kato, 0, "maintenance", "end", wid, srv)
		if !strings.Contains(out, "ended") {
			t.Errorf("maintenance end said %q", out)
		}
		m := waitMail(t, smtp, "mail for web02 after its window ended", 15*time.Second, func(m mailMsg) bool {
			return strings.Contains(m.Subject, "web02")
		})
		if d := m.At.Sub(ended); d > alRecheck+alPoll+alGroupWait+2*time.Second {
			t.Errorf("mail for web02 %s after the window ended, want within about the recheck interval (%s)", d, alRecheck)
		}
		if !strings.HasPrefix(m.Subject, "[STILL OPEN] web02: http") || !strings.Contains(m.Body, "maintenance window ended") ||
			bodyField(m.Body, "Incident") != alExternal+"/incidents/"+id || !slices.Contains(m.To, "desk@example.com") {
			t.Errorf("mail after the window to %v: %q\n%s", m.To, m.Subject, m.Body)
		}
		resumed := false
		for _, e := range show(t, inc.ID).Timeline {
			resumed = resumed || e.Kind == incident.KindStep && strings.Contains(e.Comment, "no longer suppressed")
		}
		if !resumed {
			t.Errorf("web02's timeline has no \"no longer suppressed\" step")
		}
		if strings.Contains(unyo(t, 0, "maintenance", "list", srv), "kernel patch") {
			t.Errorf("an ended window is still listed without --all")
		}
		if line := tableLine(unyo(t, 0, "maintenance", "list", "--all", srv), wid); !strings.Contains(line, "ended") {
			t.Errorf("maintenance list --all, window %s: %q", wid, line)
		}
		// Quiet the rest of web02's escalation.
		unyoAs(t, bob, 0, "incident", "ack", id, srv)
		if d := show(t, inc.ID); d.Incident.AckedBy != "bob" {
			t.Errorf("web02 acknowledged by %q, want bob", d.Incident.AckedBy)
		}
	})

	t.Run("resolve, report, export", func(t *testing.T) {
		if dbID == 0 {
			t.Skip("needs the incident of the escalation subtest")
		}
		id := itoa(dbID)
		n := len(smtp.Messages())
		unyoAs(t, alice, 0, "incident", "resolve", id, srv, "--comment", "NIC replaced")
		// A recovery notice to every destination that was told: the step 1
		// mail (desk), the step 2 mail (se), and desk's webhook.
		var rec []mailMsg
		waitFor(t, "recovery notices for db01 to desk and se", func() bool {
			rec = nil
			for _, m := range decodeAll(t, smtp.Messages()[n:]) {
				if strings.HasPrefix(m.Subject, "[RESOLVED] db01") {
					rec = append(rec, m)
				}
			}
			return len(rec) >= 2
		})
		var desk, se bool
		for _, m := range rec {
			desk = desk || slices.Contains(m.To, "desk@example.com")
			se = se || slices.Contains(m.To, "se@example.com")
			if !strings.HasPrefix(m.Body, "Resolved.") || !strings.Contains(bodyField(m.Body, "Resolved"), "by alice") ||
				bodyField(m.Body, "Incident") != alExternal+"/incidents/"+id {
				t.Errorf("recovery notice %q:\n%s", m.Subject, m.Body)
			}
		}
		if !desk || !se || len(rec) != 2 {
			t.Errorf("%d recovery notices (desk %v, se %v), want one to each", len(rec), desk, se)
		}
		h := hooks.wait(t, "resolved webhook to /desk", 10*time.Second, func(h hookPost) bool {
			return h.Path == "/desk" && h.Payload.Status == "resolved"
		})
		if a := h.Payload.Alerts; len(a) != 1 || a[0].Status != "resolved" || a[0].EndsAt.IsZero() || a[0].Labels["incident_id"] != id {
			t.Errorf("resolved payload %s", h.Body)
		}

		// The fault report.
		// Who reports, and in which role, is alice's identity (operator).
		out := unyoAs(t, alice, 0, "incident", "report", id, srv, "--cause", "NIC firmware hang",
			"--action", "replaced the NIC", "--prevention", "firmware 2.1 on all db hosts")
		if !strings.Contains(out, "NIC firmware hang") || !strings.Contains(out, "level 2 reached") {
			t.Errorf("incident report table:\n%s", out)
		}
		v := report(t, dbID)
		if r := v.Report; r == nil || r.Cause != "NIC firmware hang" || r.Action != "replaced the NIC" ||
			r.Prevention != "firmware 2.1 on all db hosts" || r.Role != "operator" || r.ReportedBy != "alice" || r.IncidentID != dbID {
			t.Errorf("report %+v", v.Report)
		}
		inc := v.Incident
		if inc.State != incident.Resolved || inc.AckedAt == nil || inc.ResolvedAt == nil || inc.ResolvedBy != "alice" {
			t.Fatalf("incident %+v", inc)
		}

		// The ledger as CSV: a header and one row per incident.
		today := time.Now().UTC()
		out = unyo(t, 0, "ledger", "export", srv, "--from", today.AddDate(0, 0, -1).Format(time.DateOnly),
			"--to", today.AddDate(0, 0, 2).Format(time.DateOnly))
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("ledger export is not CSV: %v\n%s", err, out)
		}
		if len(rows) == 0 || !slices.Equal(rows[0], escalation.ExportHeader) {
			t.Fatalf("ledger export header %v, want %v", rows[0:min(1, len(rows))], escalation.ExportHeader)
		}
		col := map[string]int{}
		for i, name := range rows[0] {
			col[name] = i
		}
		for _, name := range []string{"id", "acknowledged_at", "resolved_at", "escalation_level", "cause"} {
			if _, ok := col[name]; !ok {
				t.Fatalf("ledger export has no %q column: %v", name, rows[0])
			}
		}
		var all []incident.Incident
		if err := json.Unmarshal([]byte(unyo(t, 0, "incident", "list", srv, "-o", "json")), &all); err != nil {
			t.Fatal(err)
		}
		if len(rows)-1 != len(all) {
			t.Errorf("ledger export has %d rows, want one per incident (%d)\n%s", len(rows)-1, len(all), out)
		}
		var row []string
		seen := map[string]bool{}
		for _, r := range rows[1:] {
			if seen[r[col["id"]]] {
				t.Errorf("incident %s exported twice", r[col["id"]])
			}
			seen[r[col["id"]]] = true
			if r[col["id"]] == id {
				row = r
			}
		}
		if row == nil {
			t.Fatalf("ledger export has no row for incident %s:\n%s", id, out)
		}
		utc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
		for name, want := range map[string]string{
			"target": "db01", "check": "ping", "severity": "critical", "state": "resolved",
			"opened_at": utc(inc.OpenedAt), "acknowledged_at": utc(*inc.AckedAt), "resolved_at": utc(*inc.ResolvedAt),
			"closed_at":         "",
			"mtta_seconds":      strconv.FormatInt(int64(inc.AckedAt.Sub(inc.OpenedAt).Round(time.Second)/time.Second), 10),
			"mttr_seconds":      strconv.FormatInt(int64(inc.ResolvedAt.Sub(inc.OpenedAt).Round(time.Second)/time.Second), 10),
			"escalation_policy": "page", "escalation_level": "2", "acknowledged_by": "alice", "resolved_by": "alice",
			"occurrences": "1", "message": "no reply from db01 (3 of 3 lost)",
			"cause": "NIC firmware hang", "action": "replaced the NIC", "prevention": "firmware 2.1 on all db hosts",
			"reported_by": "alice", "reported_role": "operator",
		} {
			if got := row[col[name]]; got != want {
				t.Errorf("ledger export, incident %s, %s = %q, want %q", id, name, got, want)
			}
		}
		// The range is applied: a day long before holds nothing.
		out = unyo(t, 0, "ledger", "export", srv, "--from", "2020-01-01", "--to", "2020-01-02")
		if rows, err := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil || len(rows) != 1 {
			t.Errorf("ledger export of 2020-01-01: %d rows, %v, want the header alone\n%s", len(rows), err, out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		before := maintenances(t)
		now := time.Now()
		for _, c := range []struct {
			name string
			args []string
			code int // 0: any non-zero (the node rejects it: HTTP 400, exit 1)
			want string
		}{
			// Checked by the node (HTTP 400, naming the field).
			{"bad cron", []string{"--name", "x", "--target", "web*", "--cron", "61 * * * *", "--duration", "1h"}, 0, "cron"},
			{"cron without duration", []string{"--name", "x", "--site", "tokyo-1", "--cron", "0 1 * * *"}, 0, "duration"},
			{"end before start", []string{"--name", "x", "--target", "web*", "--start", now.Add(time.Hour).Format(time.RFC3339),
				"--end", now.Format(time.RFC3339)}, 0, "end"},
			{"bad time zone", []string{"--name", "x", "--target", "web*", "--cron", "0 1 * * *", "--duration", "1h", "--tz", "Mars/Olympus"}, 0, "time_zone"},
			// Checked by the command line: usage errors, exit 2.
			{"unparsable end", []string{"--name", "x", "--target", "web*", "--end", "tomorrow"}, 2, "--end"},
			{"missing name", []string{"--target", "web*", "--duration", "1h"}, 2, "--name"},
			{"two scopes", []string{"--name", "x", "--target", "web*", "--site", "tokyo-1"}, 2, "exactly one of"},
		} {
			args := append([]string{"maintenance", "add", srv}, c.args...)
			out, errOut, code := testutil.Run(t, args...)
			if code == 0 || (c.code != 0 && code != c.code) {
				t.Errorf("%s: exit %d, want %d (0: any non-zero)\nstdout: %s\nstderr: %s", c.name, code, c.code, out, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("%s: stderr %q does not name %q", c.name, errOut, c.want)
			}
		}
		after := maintenances(t)
		if len(after) != len(before) {
			t.Errorf("maintenance list --all: %d windows after bad input, %d before: %+v", len(after), len(before), after)
		}
		if tbl := unyo(t, 0, "maintenance", "list", srv); strings.Count(strings.TrimSpace(tbl), "\n") != 0 {
			t.Errorf("maintenance list shows windows in force after bad input:\n%s", tbl)
		}
		// A report needs a resolved incident; web02 is only acknowledged.
		if web, err := findIncident(unyo(t, 0, "incident", "list", srv, "-o", "json", "--target", "web02")); err == nil {
			out, errOut, code := testutil.Run(t, "incident", "report", itoa(web.ID), srv, "--cause", "x")
			if code == 0 {
				t.Errorf("report on an acknowledged incident: exit 0\n%s%s", out, errOut)
			}
		}
	})
}

// postEvent posts one event to POST /api/v1/events and expects 202.
func postEvent(t *testing.T, base string, ev map[string]any) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testutil.Post(base+"/api/v1/events", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/v1/events: %s: %s", resp.Status, body)
	}
}

func findIncident(listJSON string) (incident.Incident, error) {
	var incs []incident.Incident
	if err := json.Unmarshal([]byte(listJSON), &incs); err != nil {
		return incident.Incident{}, err
	}
	if len(incs) != 1 {
		return incident.Incident{}, fmt.Errorf("%d incidents", len(incs))
	}
	return incs[0], nil
}

// tableLine returns the first line of a table whose first column is key.
func tableLine(table, key string) string {
	for _, l := range strings.Split(table, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == key {
			return l
		}
	}
	return ""
}

// bodyField returns the value of the first "Key: value" line of a message
// body ("" when there is none).
func bodyField(body, key string) string {
	for _, l := range strings.Split(body, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// mailMsg is a received mail, decoded.
type mailMsg struct {
	Subject, Body string
	To            []string
	At            time.Time
}

func decodeAll(t *testing.T, rs []mailtest.Received) []mailMsg {
	t.Helper()
	out := make([]mailMsg, 0, len(rs))
	for _, r := range rs {
		subj, body, _, err := mailtest.Decode(r.Data)
		if err != nil {
			t.Fatalf("undecodable mail: %v\n%s", err, r.Data)
		}
		out = append(out, mailMsg{Subject: subj, Body: body, To: r.To, At: r.At})
	}
	return out
}

// waitMail returns the first mail (in order of arrival) that matches, waiting
// up to d for it.
func waitMail(t *testing.T, s *mailtest.Server, what string, d time.Duration, match func(mailMsg) bool) mailMsg {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range decodeAll(t, s.Messages()) {
			if match(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			var subjects []string
			for _, m := range decodeAll(t, s.Messages()) {
				subjects = append(subjects, fmt.Sprintf("%v %q", m.To, m.Subject))
			}
			t.Fatalf("no %s within %s; received:\n%s", what, d, strings.Join(subjects, "\n"))
		}
		select {
		case <-s.Accepted():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// noMail fails when a mail after the first n matches within d. The wait is
// bounded by d, which each caller derives from the timings that would send
// the mail.
func noMail(t *testing.T, s *mailtest.Server, n int, what string, d time.Duration, match func(mailMsg) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		for _, m := range decodeAll(t, s.Messages()[n:]) {
			if match(m) {
				t.Errorf("unexpected %s: to %v at %s: %q\n%s", what, m.To, m.At.Format(time.StampMilli), m.Subject, m.Body)
				return
			}
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-s.Accepted():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// amPayload is Alertmanager's webhook payload, version 4, decoded the way a
// receiver written for Alertmanager reads it.
type amPayload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

type hookPost struct {
	Path           string
	IdempotencyKey string
	Body           []byte
	Raw            map[string]json.RawMessage
	Payload        amPayload
	At             time.Time
}

// hookRecorder is a real HTTP webhook receiver on 127.0.0.1.
type hookRecorder struct {
	URL   string
	mu    sync.Mutex
	posts []hookPost
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p := hookPost{Path: r.URL.Path, IdempotencyKey: r.Header.Get("Idempotency-Key"), Body: b, At: time.Now()}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal(b, &p.Raw) != nil || json.Unmarshal(b, &p.Payload) != nil {
			t.Errorf("webhook receiver: %s %s (%s): %s", r.Method, r.URL, r.Header.Get("Content-Type"), b)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.posts = append(h.posts, p)
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	h.URL = srv.URL
	return h
}

func (h *hookRecorder) count(match func(hookPost) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.posts {
		if match(p) {
			n++
		}
	}
	return n
}

func (h *hookRecorder) wait(t *testing.T, what string, d time.Duration, match func(hookPost) bool) hookPost {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		h.mu.Lock()
		for _, p := range h.posts {
			if match(p) {
				h.mu.Unlock()
				return p
			}
		}
		n := len(h.posts)
		h.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s (%d posts received)", what, d, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
