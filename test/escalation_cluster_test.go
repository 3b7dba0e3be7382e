package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// escStepWait is the wait after each step of the cluster test's policy.
const escStepWait = 4 * time.Second

// escContacts are the three steps' recipients, in order.
var escContacts = []string{"op@example.com", "se@example.com", "mgr@example.com"}

// TestClusterEscalationLeaderChange runs escalations on 3 real processes
// (Raft, embedded NATS cluster with R3 streams, one PostgreSQL ledger) and
// changes the leader in the middle of each: once by kill -9 right after
// step 1 went out, once by a planned transfer at the moment step 2 falls
// due. Each time every step's mail arrives exactly once, none is skipped,
// and the steps after the change are claimed under the new leader's term.
func TestClusterEscalationLeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	smtp := mailtest.New(t)
	c := startThree(t, fmt.Sprintf(`alerting:
  enabled: true
  smtp: {host: 127.0.0.1, port: %d, from: unyo@example.com, tls: none, timeout: 5s}
  notify: {retry_backoff: 1s, max_backoff: 2s, max_attempts: 3}
  storm: {group_wait: 0s}
  contacts:
    - {name: op, mail: [op@example.com]}
    - {name: se, mail: [se@example.com]}
    - {name: mgr, mail: [mgr@example.com]}
  roles:
    - {name: operator, contacts: [op]}
    - {name: operations-se, contacts: [se]}
    - {name: site-manager, contacts: [mgr]}
  policies:
    - name: page
      steps:
        - {roles: [operator], channels: [mail], wait: %s}
        - {roles: [operations-se], channels: [mail], wait: %s}
        - {roles: [site-manager], channels: [mail]}
`, smtp.Port(), escStepWait, escStepWait))

	outer := t // the restarted node lives as long as the whole test
	t.Run("kill-9 after step 1", func(t *testing.T) {
		old := c.leader()
		escalateAcross(t, c, smtp, "esc-kill", func(step1 time.Time) {
			time.Sleep(300 * time.Millisecond) // step 1 recorded as sent
			c.procs[old].Kill()
			n := c.leader()
			t.Logf("killed leader %s %s after step 1; %s leads after %s", c.names[old], 300*time.Millisecond, c.names[n], time.Since(step1))
		})
		// Bring the node back for the next case; it catches up and must
		// not resend anything of the first escalation.
		c.procs[old] = testutil.Start(outer, c.cfgs[old], c.addrs[old])
		c.procs[old].WaitReady(90 * time.Second)
	})

	t.Run("transfer when step 2 falls due", func(t *testing.T) {
		escalateAcross(t, c, smtp, "esc-transfer", func(step1 time.Time) {
			old := c.leader()
			// Half a second ahead, and from this process (the CLI's
			// transfer is TestClusterKillLeader's): step 1's mail arrives
			// after step 1 was claimed, and the transfer must land before
			// step 2 is claimed. Starting the CLI took up to hundreds of
			// milliseconds on a loaded machine, and once too long.
			time.Sleep(time.Until(step1.Add(escStepWait - 500*time.Millisecond)))
			began := time.Now()
			resp, err := testutil.Post("http://"+c.addrs[old]+"/v1/cluster/transfer-leadership", "application/json", strings.NewReader(`{"to":""}`))
			if err != nil {
				t.Fatalf("transfer leadership: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("transfer leadership: HTTP %d %s", resp.StatusCode, body)
			}
			t.Logf("transferred leadership from %s at step 1 + %s (in %s): %s leads", c.names[old], began.Sub(step1), time.Since(began), c.names[c.leader()])
		})
	})

	// Nothing of either escalation arrives twice after both are over.
	time.Sleep(escStepWait)
	for _, target := range []string{"esc-kill", "esc-transfer"} {
		for _, to := range escContacts {
			if n := countMail(t, smtp, target, to); n != 1 {
				t.Errorf("%s: %d mails to %s in the end, want 1", target, n, to)
			}
		}
	}
}

// escalateAcross opens an incident on target through a follower, waits for
// step 1's mail, calls change (which changes the leader) and checks that
// steps 2 and 3 arrive once each, on time give or take the election, and
// that the ledger's timeline has each step and each delivery once.
func escalateAcross(t *testing.T, c *threeNodes, smtp *mailtest.Server, target string, change func(step1 time.Time)) {
	t.Helper()
	leader := c.leader()
	via := (leader + 1) % 3
	cl, err := client.New("http://"+c.addrs[via], client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opened := time.Now()
	if _, err := cl.SendEvents(ctx, incident.Event{ID: target + "-down", Target: target, Check: "http",
		Severity: incident.Critical, Status: incident.Problem, Message: "HTTP 503 on " + target}); err != nil {
		t.Fatal(err)
	}
	is := func(to string) func(mailMsg) bool {
		return func(m mailMsg) bool { return slices.Contains(m.To, to) && strings.Contains(m.Subject, target) }
	}
	step1 := waitMail(t, smtp, target+" step 1 mail", 30*time.Second, is(escContacts[0]))
	t.Logf("%s: step 1 mail %s after the event", target, step1.At.Sub(opened))
	change(step1.At)
	step2 := waitMail(t, smtp, target+" step 2 mail", 60*time.Second, is(escContacts[1]))
	step3 := waitMail(t, smtp, target+" step 3 mail", 60*time.Second, is(escContacts[2]))
	t.Logf("%s: step 2 %s after step 1 (wait %s), step 3 %s after step 2 (wait %s)",
		target, step2.At.Sub(step1.At), escStepWait, step3.At.Sub(step2.At), escStepWait)
	if d := step2.At.Sub(step1.At); d < escStepWait-time.Second {
		t.Errorf("step 2 came %s after step 1, before its wait of %s", d, escStepWait)
	}
	if d := step3.At.Sub(step2.At); d < escStepWait-time.Second {
		t.Errorf("step 3 came %s after step 2, before its wait of %s", d, escStepWait)
	}
	for _, to := range escContacts {
		if n := countMail(t, smtp, target, to); n != 1 {
			t.Errorf("%s: %d mails to %s, want 1", target, n, to)
		}
	}

	// The ledger, as any live node serves it.
	var d console.IncidentDetail
	waitFor(t, target+" timeline with three deliveries", func() bool {
		d = incidentOf(t, c, target)
		return countKind(d.Timeline, incident.KindNotified) >= 3
	})
	// Each step ran once ("step N of 3 ..."), then the escalation ended.
	for n := 1; n <= 3; n++ {
		ran := 0
		for _, e := range d.Timeline {
			if e.Kind == incident.KindStep && strings.HasPrefix(e.Comment, fmt.Sprintf("step %d of 3 ", n)) {
				ran++
			}
		}
		if ran != 1 {
			t.Errorf("%s: step %d ran %d times, want once", target, n, ran)
		}
	}
	if t.Failed() {
		for _, e := range d.Timeline {
			t.Logf("  %d %s %s by %s: %s", e.Seq, e.At.Format(time.StampMilli), e.Kind, e.By, e.Comment)
		}
	}
	if n := countKind(d.Timeline, incident.KindNotified); n != 3 {
		t.Errorf("%s: %d notified entries, want 3", target, n)
	}
	if n := countKind(d.Timeline, incident.KindNotifyFailed); n != 0 {
		t.Errorf("%s: %d notify-failed entries, want 0", target, n)
	}
	// Each delivery names the node and the fence (Raft term) it claimed
	// with; after the change the fence is higher.
	var fences []int64
	for _, e := range d.Timeline {
		if e.Kind != incident.KindNotified {
			continue
		}
		m := fenceRe.FindStringSubmatch(e.Comment)
		if m == nil {
			t.Fatalf("%s: delivery entry %q names no fence", target, e.Comment)
		}
		f, _ := strconv.ParseInt(m[2], 10, 64)
		fences = append(fences, f)
		t.Logf("%s: %s", target, e.Comment)
	}
	if len(fences) == 3 && !(fences[1] > fences[0] && fences[2] >= fences[1]) {
		t.Errorf("%s: fences %v; want step 2 and 3 claimed under a newer term than step 1", target, fences)
	}
}

var fenceRe = regexp.MustCompile(`delivered by (\S+) \(fence (\d+)\)`)

// countMail counts the mails to `to` about target.
func countMail(t *testing.T, smtp *mailtest.Server, target, to string) int {
	t.Helper()
	n := 0
	for _, m := range decodeAll(t, smtp.Messages()) {
		if slices.Contains(m.To, to) && strings.Contains(m.Subject, target) {
			n++
		}
	}
	return n
}

func countKind(es []incident.Entry, k incident.Kind) int {
	n := 0
	for _, e := range es {
		if e.Kind == k {
			n++
		}
	}
	return n
}

// incidentOf returns target's one incident and its timeline from the first
// live node that answers.
func incidentOf(t *testing.T, c *threeNodes, target string) console.IncidentDetail {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	for i := range c.procs {
		if c.procs[i].Exited() {
			continue
		}
		resp, err := adminGet(hc, "http://"+c.addrs[i]+"/api/v1/incidents?target="+target)
		if err != nil {
			continue
		}
		var list struct {
			Incidents []incident.Incident `json:"incidents"`
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil || len(list.Incidents) != 1 {
			continue
		}
		resp, err = adminGet(hc, fmt.Sprintf("http://%s/api/v1/incidents/%d", c.addrs[i], list.Incidents[0].ID))
		if err != nil {
			continue
		}
		var d console.IncidentDetail
		err = json.NewDecoder(resp.Body).Decode(&d)
		resp.Body.Close()
		if err == nil {
			return d
		}
	}
	return console.IncidentDetail{}
}
