package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Message kinds.
const (
	KindProblem  = "problem"  // an escalation step: something is wrong
	KindRecovery = "recovery" // the incident was resolved
	KindFlapping = "flapping" // the check changes state too often
	KindReminder = "reminder" // still open when a maintenance window ended
)

// Item is one incident in a message, with its links.
type Item struct {
	Incident incident.Incident `json:"incident"`
	// URL is the incident's page (http.external_url based); RunbookURL
	// the runbook's, empty without a runbook.
	URL        string `json:"url"`
	RunbookURL string `json:"runbook_url,omitempty"`
}

// Message is what a notifier sends: one or more incidents of one kind, to
// the destinations of one channel.
type Message struct {
	// Key identifies the message: the key of its first notification.
	Key     string `json:"key"`
	Kind    string `json:"kind"`
	Channel string `json:"channel"`
	// To are the destinations: mail addresses, a webhook URL.
	To []string `json:"to,omitempty"`
	// Role and Level say which escalation step sent it.
	Role  string `json:"role,omitempty"`
	Level int    `json:"level,omitempty"`
	// Receiver names who it is for (the policy), as in Alertmanager.
	Receiver string `json:"receiver,omitempty"`
	Items    []Item `json:"items"`
	At       time.Time
	// Location renders times (default UTC).
	Location *time.Location `json:"-"`
	// ExternalURL is the console's base URL.
	ExternalURL string `json:"external_url,omitempty"`
}

// Notifier sends a message on one channel. retry says whether the failure
// is worth trying again (a timeout, a 4xx SMTP reply, an HTTP 5xx); a
// permanent failure (a rejected address, HTTP 400) is not.
type Notifier interface {
	Notify(ctx context.Context, m Message) (retry bool, err error)
}

// Func adapts a function to Notifier.
type Func func(ctx context.Context, m Message) (bool, error)

// Notify calls f.
func (f Func) Notify(ctx context.Context, m Message) (bool, error) { return f(ctx, m) }

// ErrNoDestination: the message has nowhere to go.
var ErrNoDestination = errors.New("notify: no destination")

// Backoff is the wait between attempts: Initial, doubling up to Max; after
// MaxAttempts attempts the notification is given up.
type Backoff struct {
	Initial     time.Duration
	Max         time.Duration
	MaxAttempts int
}

// Validate reports a bad backoff.
func (b Backoff) Validate() error {
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("retry_backoff %s: want more than 0", b.Initial)
	case b.Max < b.Initial:
		return fmt.Errorf("max_backoff %s: want at least retry_backoff (%s)", b.Max, b.Initial)
	case b.MaxAttempts < 1:
		return fmt.Errorf("max_attempts %d: want at least 1", b.MaxAttempts)
	}
	return nil
}

// Next returns the wait after the given number of failed attempts (1 for
// the first failure), and false when no attempt is left.
func (b Backoff) Next(failed int) (time.Duration, bool) {
	if failed >= b.MaxAttempts {
		return 0, false
	}
	d := b.Initial
	for i := 1; i < failed && d < b.Max; i++ {
		d *= 2
	}
	return min(d, b.Max), true
}

// Sink receives the events Health raises (monitor.Sink and bus.Bus fit).
type Sink interface {
	Publish(ctx context.Context, ev incident.Event) error
}

// Health counts consecutive failures per channel. After FailAfter of them
// it publishes a problem event for the channel (target Node, check
// "notifier:<channel>"), so a notifier that keeps failing becomes an
// incident on the platform; the next success publishes the ok event.
type Health struct {
	Node      string
	FailAfter int
	Sink      Sink
	Logger    *slog.Logger
	Metrics   *Metrics
	Now       func() time.Time

	mu    sync.Mutex
	fails map[string]int
	down  map[string]bool
}

// Failed records a failed attempt on channel.
func (h *Health) Failed(ctx context.Context, channel string, err error) {
	h.mu.Lock()
	if h.fails == nil {
		h.fails, h.down = map[string]int{}, map[string]bool{}
	}
	h.fails[channel]++
	n := h.fails[channel]
	raise := n >= max(h.FailAfter, 1) && !h.down[channel]
	if raise {
		h.down[channel] = true
	}
	h.mu.Unlock()
	if !raise {
		return
	}
	h.Metrics.setUp(channel, false)
	h.publish(ctx, channel, incident.Problem, redact.Text(fmt.Sprintf("notifier %s failed %d times in a row: %v", channel, n, err)))
}

// OK records a successful attempt on channel.
func (h *Health) OK(ctx context.Context, channel string) {
	h.mu.Lock()
	if h.fails == nil {
		h.fails, h.down = map[string]int{}, map[string]bool{}
	}
	h.fails[channel] = 0
	was := h.down[channel]
	h.down[channel] = false
	h.mu.Unlock()
	h.Metrics.setUp(channel, true)
	if was {
		h.publish(ctx, channel, incident.OK, "notifier "+channel+" works again")
	}
}

func (h *Health) publish(ctx context.Context, channel string, st incident.Status, msg string) {
	if h.Sink == nil {
		return
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	t := now().UTC()
	ev := incident.Event{
		// One id per channel, status and second: a retried publish is stored once.
		ID:       fmt.Sprintf("notifier.%s.%s.%s.%d", h.Node, channel, st, t.Unix()),
		Source:   "unyo",
		Target:   h.Node,
		Check:    "notifier:" + channel,
		Severity: incident.Major,
		Status:   st,
		Message:  msg,
		Time:     t,
		Runbook:  "notifier-failing",
	}
	if err := h.Sink.Publish(ctx, ev); err != nil && h.Logger != nil {
		h.Logger.Error("publish notifier health event", "channel", channel, "err", err)
	}
}

// Metrics are the notifier metrics; nil is valid and records nothing.
type Metrics struct {
	attempts *prometheus.CounterVec
	duration *prometheus.HistogramVec
	up       *prometheus.GaugeVec
}

// NewMetrics creates and registers the metrics (reg may be nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_notify_attempts_total", Help: "Notification attempts by channel and outcome (ok, retry, failed).",
		}, []string{"channel", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "unyo_notify_duration_seconds", Help: "Time of one notification attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"channel"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "unyo_notify_channel_up", Help: "0 after a channel failed repeatedly, 1 after it worked.",
		}, []string{"channel"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.duration, m.up)
	}
	return m
}

// Observe records one attempt.
func (m *Metrics) Observe(channel string, d time.Duration, retry bool, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	switch {
	case err != nil && retry:
		outcome = "retry"
	case err != nil:
		outcome = "failed"
	}
	m.attempts.WithLabelValues(channel, outcome).Inc()
	m.duration.WithLabelValues(channel).Observe(d.Seconds())
}

func (m *Metrics) setUp(channel string, up bool) {
	if m == nil {
		return
	}
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(channel).Set(v)
}

// IncidentURL is the link to an incident on the console.
func IncidentURL(external string, id int64) string {
	return strings.TrimRight(external, "/") + fmt.Sprintf("/incidents/%d", id)
}

// RunbookURL is the link to a runbook, "" without one. A runbook that is
// already a URL is returned as it is.
func RunbookURL(external, runbook string) string {
	switch {
	case runbook == "":
		return ""
	case strings.HasPrefix(runbook, "http://") || strings.HasPrefix(runbook, "https://"):
		return runbook
	}
	return strings.TrimRight(external, "/") + "/runbooks/" + url.PathEscape(runbook)
}
