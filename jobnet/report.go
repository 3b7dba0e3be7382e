package jobnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Results through a node's spool: an agent sends each result (and each
// refusal) as a core NATS request on its own subject unyo.job.report.NAME;
// any node with jobnets (queue group) appends it to its spool, on the
// agent's own results subject unyo.job.result.NAME with the result's
// message id, and answers only once it is on disk. The node's forwarder
// then stores it in the results stream through any stream-leader election,
// so an agent's result waits neither on JetStream nor in the agent's
// memory. When no node answers (none reachable, a full spool, an external
// NATS that does not allow the subject) the agent publishes to JetStream
// itself, as before, and keeps alternating the two until one stores it.
const (
	reportSubject = "unyo.job.report" // .NAME: an agent's results, request/reply to a node
	reportQueue   = "unyo-report"
	// maxReportBytes bounds a report a node takes (NATS's default max
	// payload).
	maxReportBytes = 1 << 20
)

// ReportTimeout bounds one report request of an agent to the nodes.
var ReportTimeout = 2 * time.Second

type reportAnswer struct {
	OK  bool   `json:"ok,omitempty"`
	Err string `json:"err,omitempty"`
}

// resultID is the message id a result is stored with: result:KEY, or
// refused:KEY:REASON for a refusal.
func resultID(r Result) string {
	if r.Refused != "" {
		return "refused:" + r.Key() + ":" + r.Refused
	}
	return "result:" + r.Key()
}

// report sends one result to a node's spool and reports whether a node
// stored it.
func (a *Agent) report(ctx context.Context, b []byte) error {
	if a.Node {
		return errors.New("a node's agent spools its results itself")
	}
	rctx, cancel := context.WithTimeout(ctx, ReportTimeout)
	defer cancel()
	resp, err := a.NC.RequestWithContext(rctx, reportSubject+senderSuffix("agent", a.Name), b)
	if err != nil {
		return err
	}
	var ans reportAnswer
	if err := json.Unmarshal(resp.Data, &ans); err != nil {
		return fmt.Errorf("undecodable answer: %w", err)
	}
	if !ans.OK {
		return fmt.Errorf("node: %s", ans.Err)
	}
	return nil
}

// deliver stores a result (or refusal) b with message id id: through a
// node's spool (report) or, failing that, published to the results
// stream directly. With retry it alternates both, with backoff, until one
// stores it (or ctx ends and the backoff has grown past 2 s); without,
// it tries each once.
func (a *Agent) deliver(ctx context.Context, js jetstream.JetStream, k, id string, b []byte, retry bool) {
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		rerr := a.report(context.WithoutCancel(ctx), b)
		if rerr == nil {
			return
		}
		pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := js.Publish(pctx, a.subject(resultSubject), b, jetstream.WithMsgID(id))
		pcancel()
		if err == nil {
			return
		}
		if !retry {
			a.Logger.Warn("publish result", "job", k, "id", id, "err", err, "report_err", rerr)
			return
		}
		a.Logger.Warn("publish result; retrying", "job", k, "err", err, "report_err", rerr)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			if backoff > 2*time.Second {
				return
			}
		}
	}
}

// ServeReports takes the agents' results sent to the nodes (reportSubject)
// into sink, the node's spool, until ctx ends: each on the results subject
// of the agent whose report subject it came on, with its message id, and
// answered once appended. A report that is not a result, or claims
// another sender than its subject, is refused (answered, logged, counted
// in unyo_jobnet_results_refused_total) and not stored. Every node serves
// it, leader or not; NATS gives each report to one of them.
func (a *Agents) ServeReports(ctx context.Context, sink ResultSink) error {
	if sink == nil {
		return errors.New("jobnet: reports need a result sink")
	}
	sub, err := a.nc.QueueSubscribe(reportSubject+".>", reportQueue, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		answer := func(ans reportAnswer) {
			b, _ := json.Marshal(ans)
			_ = m.Respond(b)
		}
		s, ok := senderOf(m.Subject, reportSubject)
		if !ok || s.kind != "agent" {
			a.resultsRefused.WithLabelValues(RefusedSubject).Inc()
			a.log.Warn("job report refused", "subject", m.Subject, "reason", RefusedSubject)
			answer(reportAnswer{Err: "not an agent's report subject"})
			return
		}
		var r Result
		if len(m.Data) > maxReportBytes || json.Unmarshal(m.Data, &r) != nil || r.Run == "" || r.Job == "" {
			a.resultsRefused.WithLabelValues("malformed").Inc()
			a.log.Warn("job report refused", "subject", m.Subject, "reason", "malformed", "bytes", len(m.Data))
			answer(reportAnswer{Err: "not a job result"})
			return
		}
		if r.Where != "" && r.Where != s.String() {
			a.resultsRefused.WithLabelValues(RefusedClaim).Inc()
			a.log.Warn("job report refused", "job", r.Key(), "claimed", r.Where, "subject", m.Subject, "reason", RefusedClaim)
			answer(reportAnswer{Err: "claims another sender than its subject"})
			return
		}
		actx, cancel := context.WithTimeout(ctx, ReportTimeout)
		defer cancel()
		if err := sink.Append(actx, resultSubject+senderSuffix(s.kind, s.name), resultID(r), m.Data); err != nil {
			a.log.Warn("job report not spooled", "job", r.Key(), "subject", m.Subject, "err", err)
			answer(reportAnswer{Err: "not stored: " + err.Error()})
			return
		}
		answer(reportAnswer{OK: true})
	})
	if err != nil {
		return fmt.Errorf("jobnet: reports: %w", err)
	}
	<-ctx.Done()
	_ = sub.Unsubscribe()
	return nil
}
