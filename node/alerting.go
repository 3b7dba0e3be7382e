package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/command"
	"github.com/unyo-ops/unyo/alerting/notify/mail"
	"github.com/unyo-ops/unyo/alerting/notify/webhook"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
)

// AlertingOptions configure escalation and notification on the node.
type AlertingOptions struct {
	// Enabled runs the escalator. For now a node's escalator is always
	// active; with the Raft cluster only the leader's will be
	// (Escalator.SetActive).
	Enabled bool
	Config  escalation.Config
	// Channels: nil leaves a channel unconfigured.
	Mail    *mail.Config
	Webhook *webhook.Config
	Command *command.Config
	// Parents returns a target's parent ("" for none); from monitoring
	// config once it has one.
	Parents     func(target string) string
	SendTimeout time.Duration
	// DefaultMaintenance is the length of a window added without an end.
	DefaultMaintenance time.Duration
	// EventSkew bounds incoming event times (alerting.event_time; zero:
	// incident.DefaultSkew). The API refuses an event outside; syslog and
	// traps keep it at its receive time (incident.Event.Clamp).
	EventSkew incident.Skew
}

// alertingOptions turns the alerting section into AlertingOptions.
func alertingOptions(c *configs.Config) (AlertingOptions, error) {
	a := c.Alerting
	loc, err := time.LoadLocation(a.TimeZone)
	if err != nil {
		return AlertingOptions{}, fmt.Errorf("alerting.time_zone: %w", err)
	}
	cfg := escalation.Config{
		Location:    loc,
		Storm:       escalation.Storm{GroupWait: a.Storm.GroupWait, GroupBy: a.Storm.GroupBy, FlapWindow: a.Storm.FlapWindow, FlapThreshold: a.Storm.FlapThreshold},
		Recheck:     a.Maintenance.Recheck,
		Retry:       notify.Backoff{Initial: a.Notify.RetryBackoff, Max: a.Notify.MaxBackoff, MaxAttempts: a.Notify.MaxAttempts},
		FailAfter:   a.Notify.FailAfter,
		DownChecks:  a.DownChecks,
		ExternalURL: c.HTTP.ExternalURL,
	}
	for _, x := range a.Calendars {
		cfg.Calendars = append(cfg.Calendars, escalation.Calendar{Name: x.Name, TimeZone: x.TimeZone, Days: x.Days, From: x.From, To: x.To, Except: x.Except})
	}
	for _, x := range a.Contacts {
		cfg.Contacts = append(cfg.Contacts, escalation.Contact{Name: x.Name, Mail: x.Mail, Webhook: x.Webhook})
	}
	for _, x := range a.Roles {
		cfg.Roles = append(cfg.Roles, escalation.Role{Name: x.Name, Contacts: x.Contacts, Calendar: x.Calendar})
	}
	for _, x := range a.Policies {
		p := escalation.Policy{Name: x.Name, Repeat: x.Repeat, Window: x.Window, AckTimeout: x.AckTimeout,
			Match: escalation.Match{Targets: x.Match.Targets, Checks: x.Match.Checks, Labels: x.Match.Labels}}
		for _, s := range x.Match.Severities {
			p.Match.Severities = append(p.Match.Severities, incident.Severity(s))
		}
		for _, s := range x.Steps {
			p.Steps = append(p.Steps, escalation.Step{Roles: s.Roles, Contacts: s.Contacts, Channels: s.Channels, Wait: s.Wait})
		}
		cfg.Policies = append(cfg.Policies, p)
	}
	o := AlertingOptions{Enabled: a.Active(), Config: cfg, SendTimeout: a.Notify.SendTimeout, DefaultMaintenance: a.Maintenance.DefaultDuration,
		EventSkew: incident.Skew{Future: a.EventTime.MaxFuture, Past: a.EventTime.MaxPast}}
	if a.SMTP.Host != "" {
		o.Mail = &mail.Config{Host: a.SMTP.Host, Port: a.SMTP.Port, From: a.SMTP.From, Username: a.SMTP.Username,
			Password: string(a.SMTP.Password), TLS: a.SMTP.TLS, Timeout: a.SMTP.Timeout}
	}
	o.Webhook = &webhook.Config{URL: string(a.Webhook.URL), Timeout: a.Webhook.Timeout, MaxAlerts: a.Webhook.MaxAlerts}
	if a.Command.Path != "" {
		o.Command = &command.Config{Path: a.Command.Path, Args: a.Command.Args, Timeout: a.Command.Timeout}
	}
	return o, nil
}

// newAlerting creates the escalator when alerting is enabled.
func (n *Node) newAlerting(ctx context.Context) error {
	a := n.opts.Alerting
	if !a.Enabled {
		return nil
	}
	nf := map[string]notify.Notifier{}
	if a.Mail != nil {
		m, err := mail.New(*a.Mail)
		if err != nil {
			return fmt.Errorf("node: alerting: %w", err)
		}
		nf[escalation.ChannelMail] = m
	}
	if a.Webhook != nil {
		w, err := webhook.New(*a.Webhook)
		if err != nil {
			return fmt.Errorf("node: alerting: %w", err)
		}
		nf[escalation.ChannelWebhook] = w
	}
	if a.Command != nil {
		c, err := command.New(*a.Command)
		if err != nil {
			return fmt.Errorf("node: alerting: %w", err)
		}
		nf[escalation.ChannelCommand] = c
	}
	esc, err := escalation.New(ctx, escalation.Options{
		Config:       a.Config,
		Store:        n.store,
		Bus:          n.bus,
		Notifiers:    nf,
		Sink:         n.ingest.in,
		Parents:      a.Parents,
		Node:         n.opts.Name,
		SendTimeout:  a.SendTimeout,
		Logger:       n.log,
		Fence:        n.escalationFence(),
		VerifyLeader: n.escalationVerify(),
		Registerer:   n.opts.Registry,
	})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.esc = esc
	return nil
}

// alertingDeps are the console's alerting endpoints' dependencies.
func (n *Node) alertingDeps() console.AlertingDeps {
	// ?month= is a month in alerting.time_zone, escalator or not.
	d := console.AlertingDeps{DefaultMaintenance: n.opts.Alerting.DefaultMaintenance, Location: n.opts.Alerting.Config.Location}
	if n.esc != nil {
		cfg := n.esc.Config()
		d.OnCall = cfg.OnCall
	}
	return d
}

// startAlerting makes the escalator active: a single node is its own leader.
func (n *Node) startAlerting() {
	// In a cluster only the leader escalates (followLeadership in cluster.go).
	if n.esc != nil && n.opts.Cluster.DataDir == "" {
		n.esc.Start()
	}
}

func (n *Node) stopAlerting() {
	if n.esc != nil {
		n.esc.Stop()
	}
}

// Escalator returns the node's escalator (nil when alerting is off).
func (n *Node) Escalator() *escalation.Escalator { return n.esc }

// The lazy store keeps escalation state too once the real store is open.

var _ ledger.EscalationStore = (*lazyStore)(nil)

func (l *lazyStore) esc() (ledger.EscalationStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	es, ok := s.(ledger.EscalationStore)
	if !ok {
		return nil, escalation.ErrNoStore
	}
	return es, nil
}

func (l *lazyStore) StartEscalation(ctx context.Context, e ledger.Escalation) (ledger.Escalation, bool, error) {
	s, err := l.esc()
	if err != nil {
		return e, false, err
	}
	return s.StartEscalation(ctx, e)
}

func (l *lazyStore) Escalation(ctx context.Context, id int64) (ledger.Escalation, error) {
	s, err := l.esc()
	if err != nil {
		return ledger.Escalation{}, err
	}
	return s.Escalation(ctx, id)
}

func (l *lazyStore) DueEscalations(ctx context.Context, now time.Time, limit int) ([]ledger.Escalation, error) {
	s, err := l.esc()
	if err != nil {
		return nil, err
	}
	return s.DueEscalations(ctx, now, limit)
}

func (l *lazyStore) UpdateEscalation(ctx context.Context, e ledger.Escalation, ns []ledger.Notification, notes []ledger.Note) (ledger.Escalation, error) {
	s, err := l.esc()
	if err != nil {
		return e, err
	}
	return s.UpdateEscalation(ctx, e, ns, notes)
}

func (l *lazyStore) ClaimNotifications(ctx context.Context, c ledger.Claim) ([]ledger.Notification, error) {
	s, err := l.esc()
	if err != nil {
		return nil, err
	}
	return s.ClaimNotifications(ctx, c)
}

func (l *lazyStore) ReleaseNotifications(ctx context.Context, keys []string, owner string) error {
	s, err := l.esc()
	if err != nil {
		return err
	}
	return s.ReleaseNotifications(ctx, keys, owner)
}

func (l *lazyStore) Fence(ctx context.Context) (int64, string, error) {
	s, err := l.esc()
	if err != nil {
		return 0, "", err
	}
	return s.Fence(ctx)
}

func (l *lazyStore) FinishNotifications(ctx context.Context, keys []string, owner string, a ledger.Attempt) error {
	s, err := l.esc()
	if err != nil {
		return err
	}
	return s.FinishNotifications(ctx, keys, owner, a)
}

func (l *lazyStore) CancelNotifications(ctx context.Context, id int64, kinds ...string) (int, error) {
	s, err := l.esc()
	if err != nil {
		return 0, err
	}
	return s.CancelNotifications(ctx, id, kinds...)
}

func (l *lazyStore) Notifications(ctx context.Context, id int64) ([]ledger.Notification, error) {
	s, err := l.esc()
	if err != nil {
		return nil, err
	}
	return s.Notifications(ctx, id)
}

func (l *lazyStore) Note(ctx context.Context, id int64, nt ledger.Note) (incident.Entry, error) {
	s, err := l.esc()
	if err != nil {
		return incident.Entry{}, err
	}
	return s.Note(ctx, id, nt)
}

func (l *lazyStore) AddMaintenance(ctx context.Context, m ledger.Maintenance) (ledger.Maintenance, error) {
	s, err := l.esc()
	if err != nil {
		return m, err
	}
	return s.AddMaintenance(ctx, m)
}

func (l *lazyStore) Maintenances(ctx context.Context) ([]ledger.Maintenance, error) {
	s, err := l.esc()
	if err != nil {
		return nil, err
	}
	return s.Maintenances(ctx)
}

func (l *lazyStore) EndMaintenance(ctx context.Context, id int64, by string, at time.Time) (ledger.Maintenance, error) {
	s, err := l.esc()
	if err != nil {
		return ledger.Maintenance{}, err
	}
	return s.EndMaintenance(ctx, id, by, at)
}

func (l *lazyStore) SetReport(ctx context.Context, r ledger.Report) (ledger.Report, incident.Entry, error) {
	s, err := l.esc()
	if err != nil {
		return r, incident.Entry{}, err
	}
	return s.SetReport(ctx, r)
}

func (l *lazyStore) Report(ctx context.Context, id int64) (ledger.Report, error) {
	s, err := l.esc()
	if err != nil {
		return ledger.Report{}, err
	}
	return s.Report(ctx, id)
}

// escalationFence is the Raft term, which fences notification claims: a
// deposed leader cannot claim once the new one has. Nil without Raft. (The
// Raft node is created after alerting, hence the late look.)
func (n *Node) escalationFence() func() int64 {
	if n.opts.Cluster.DataDir == "" {
		return nil
	}
	return func() int64 {
		if n.raft == nil {
			return 0
		}
		return int64(n.raft.Term())
	}
}

func (n *Node) escalationVerify() func(context.Context) error {
	if n.opts.Cluster.DataDir == "" {
		return nil
	}
	return func(ctx context.Context) error {
		if n.raft == nil {
			return errors.New("node: no raft yet")
		}
		return n.raft.VerifyLeader(ctx)
	}
}
