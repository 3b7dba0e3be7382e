package configs

import (
	"fmt"
	"net/mail"
	"net/url"
	"path"
	"strings"
	"time"
	_ "time/tzdata" // time zones of calendars work without the system's zoneinfo

	"github.com/unyo-ops/unyo/internal/redact"
)

// AlertingConfig is escalation and notification: who is told of a fault,
// how and when (package alerting/escalation).
type AlertingConfig struct {
	// Enabled runs the escalator (when at least one policy is configured).
	Enabled bool `yaml:"enabled" json:"enabled"`
	// TimeZone renders times in messages (default UTC).
	TimeZone    string                    `yaml:"time_zone" json:"time_zone"`
	SMTP        AlertingSMTPConfig        `yaml:"smtp" json:"smtp"`
	Webhook     AlertingWebhookConfig     `yaml:"webhook" json:"webhook"`
	Command     AlertingCommandConfig     `yaml:"command" json:"command"`
	Notify      AlertingNotifyConfig      `yaml:"notify" json:"notify"`
	Storm       AlertingStormConfig       `yaml:"storm" json:"storm"`
	Maintenance AlertingMaintenanceConfig `yaml:"maintenance" json:"maintenance"`
	// DownChecks: an active incident on one of these checks makes a
	// target "down" for its children.
	DownChecks []string `yaml:"down_checks" json:"down_checks"`
	// EventTime bounds the source time of incoming events against the
	// receiving node's clock (whether or not the escalator runs).
	EventTime AlertingEventTimeConfig `yaml:"event_time" json:"event_time"`
	Calendars []AlertingCalendar      `yaml:"calendars" json:"calendars"`
	Contacts  []AlertingContact       `yaml:"contacts" json:"contacts"`
	Roles     []AlertingRole          `yaml:"roles" json:"roles"`
	Policies  []AlertingPolicy        `yaml:"policies" json:"policies"`
}

// AlertingEventTimeConfig bounds the times of events posted to the API;
// one outside is refused (400, field time). Syslog messages and traps are
// timed when received, so never outside.
type AlertingEventTimeConfig struct {
	MaxFuture time.Duration `yaml:"max_future" json:"max_future"`
	MaxPast   time.Duration `yaml:"max_past" json:"max_past"`
}

// AlertingSMTPConfig is the mail relay.
type AlertingSMTPConfig struct {
	Host     string        `yaml:"host" json:"host"`
	Port     int           `yaml:"port" json:"port"`
	From     string        `yaml:"from" json:"from"`
	Username string        `yaml:"username" json:"username"`
	Password Secret        `yaml:"password" json:"password"`
	TLS      string        `yaml:"tls" json:"tls"`
	Timeout  time.Duration `yaml:"timeout" json:"timeout"`
}

// AlertingWebhookConfig is the webhook notifier.
type AlertingWebhookConfig struct {
	// URL may carry a token (in the query, the path or as user:password@):
	// it prints redacted.
	URL       redact.SecretURL `yaml:"url" json:"url"`
	Timeout   time.Duration    `yaml:"timeout" json:"timeout"`
	MaxAlerts int              `yaml:"max_alerts" json:"max_alerts"`
}

// AlertingCommandConfig is the command notifier.
type AlertingCommandConfig struct {
	Path    string        `yaml:"path" json:"path"`
	Args    []string      `yaml:"args" json:"args"`
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// AlertingNotifyConfig is retrying and health of notifiers.
type AlertingNotifyConfig struct {
	RetryBackoff time.Duration `yaml:"retry_backoff" json:"retry_backoff"`
	MaxBackoff   time.Duration `yaml:"max_backoff" json:"max_backoff"`
	MaxAttempts  int           `yaml:"max_attempts" json:"max_attempts"`
	FailAfter    int           `yaml:"fail_after" json:"fail_after"`
	SendTimeout  time.Duration `yaml:"send_timeout" json:"send_timeout"`
}

// AlertingStormConfig is storm control.
type AlertingStormConfig struct {
	GroupWait     time.Duration `yaml:"group_wait" json:"group_wait"`
	GroupBy       string        `yaml:"group_by" json:"group_by"`
	FlapWindow    time.Duration `yaml:"flap_window" json:"flap_window"`
	FlapThreshold int           `yaml:"flap_threshold" json:"flap_threshold"`
}

// AlertingMaintenanceConfig is defaults of maintenance windows.
type AlertingMaintenanceConfig struct {
	DefaultDuration time.Duration `yaml:"default_duration" json:"default_duration"`
	Recheck         time.Duration `yaml:"recheck" json:"recheck"`
}

// AlertingCalendar is a weekly time window.
type AlertingCalendar struct {
	Name     string   `yaml:"name" json:"name"`
	TimeZone string   `yaml:"time_zone" json:"time_zone"`
	Days     []string `yaml:"days" json:"days"`
	From     string   `yaml:"from" json:"from"`
	To       string   `yaml:"to" json:"to"`
	Except   []string `yaml:"except" json:"except"`
}

// AlertingContact is a person or desk.
type AlertingContact struct {
	Name    string           `yaml:"name" json:"name"`
	Mail    []string         `yaml:"mail" json:"mail"`
	Webhook redact.SecretURL `yaml:"webhook" json:"webhook"`
}

// AlertingRole is who a step notifies.
type AlertingRole struct {
	Name     string   `yaml:"name" json:"name"`
	Contacts []string `yaml:"contacts" json:"contacts"`
	Calendar string   `yaml:"calendar" json:"calendar"`
}

// AlertingPolicy is an escalation policy.
type AlertingPolicy struct {
	Name       string         `yaml:"name" json:"name"`
	Match      AlertingMatch  `yaml:"match" json:"match"`
	Steps      []AlertingStep `yaml:"steps" json:"steps"`
	Repeat     int            `yaml:"repeat" json:"repeat"`
	Window     string         `yaml:"window" json:"window"`
	AckTimeout time.Duration  `yaml:"ack_timeout" json:"ack_timeout"`
}

// AlertingMatch selects incidents for a policy.
type AlertingMatch struct {
	Severities []string          `yaml:"severities" json:"severities"`
	Targets    []string          `yaml:"targets" json:"targets"`
	Checks     []string          `yaml:"checks" json:"checks"`
	Labels     map[string]string `yaml:"labels" json:"labels"`
}

// AlertingStep is one escalation step.
type AlertingStep struct {
	Roles    []string      `yaml:"roles" json:"roles"`
	Contacts []string      `yaml:"contacts" json:"contacts"`
	Channels []string      `yaml:"channels" json:"channels"`
	Wait     time.Duration `yaml:"wait" json:"wait"`
}

func (s *AlertingConfig) defaults() {
	s.Enabled = true
	s.TimeZone = "UTC"
	s.SMTP.Port = 25
	s.SMTP.TLS = "opportunistic"
	s.SMTP.Timeout = 10 * time.Second
	s.Webhook.Timeout = 10 * time.Second
	s.Command.Timeout = 30 * time.Second
	s.Notify = AlertingNotifyConfig{RetryBackoff: 10 * time.Second, MaxBackoff: 5 * time.Minute, MaxAttempts: 10, FailAfter: 3, SendTimeout: 30 * time.Second}
	s.Storm = AlertingStormConfig{GroupWait: 5 * time.Second, GroupBy: "target", FlapWindow: 10 * time.Minute, FlapThreshold: 6}
	s.Maintenance = AlertingMaintenanceConfig{DefaultDuration: 4 * time.Hour, Recheck: time.Minute}
	s.DownChecks = []string{"ping"}
	s.EventTime = AlertingEventTimeConfig{MaxFuture: 5 * time.Minute, MaxPast: 24 * time.Hour}
}

// resolve makes empty lists and maps nil, so that a printed configuration
// loads back to the same one.
func (s *AlertingConfig) resolve(*Config, string) {
	nilIfEmpty(&s.DownChecks)
	nilIfEmpty(&s.Command.Args)
	nilIfEmpty(&s.Calendars)
	nilIfEmpty(&s.Contacts)
	nilIfEmpty(&s.Roles)
	nilIfEmpty(&s.Policies)
	for i := range s.Calendars {
		c := &s.Calendars[i]
		nilIfEmpty(&c.Days)
		nilIfEmpty(&c.Except)
	}
	for i := range s.Contacts {
		nilIfEmpty(&s.Contacts[i].Mail)
	}
	for i := range s.Roles {
		nilIfEmpty(&s.Roles[i].Contacts)
	}
	for i := range s.Policies {
		p := &s.Policies[i]
		nilIfEmpty(&p.Steps)
		nilIfEmpty(&p.Match.Severities)
		nilIfEmpty(&p.Match.Targets)
		nilIfEmpty(&p.Match.Checks)
		if len(p.Match.Labels) == 0 {
			p.Match.Labels = nil
		}
		for j := range p.Steps {
			st := &p.Steps[j]
			nilIfEmpty(&st.Roles)
			nilIfEmpty(&st.Contacts)
			nilIfEmpty(&st.Channels)
		}
	}
}

func nilIfEmpty[T any](s *[]T) {
	if len(*s) == 0 {
		*s = nil
	}
}

// Active reports whether the escalator should run.
func (s *AlertingConfig) Active() bool { return s.Enabled && len(s.Policies) > 0 }

func (s *AlertingConfig) validate(_ *Config, v validator) {
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		v.errf("time_zone", "%s: unknown time zone", quote(s.TimeZone))
	}
	// Channels: which are usable.
	mv := v.sub("smtp")
	if s.SMTP.Host != "" {
		if s.SMTP.Port < 1 || s.SMTP.Port > 65535 {
			mv.errf("port", "%d: want 1..65535", s.SMTP.Port)
		}
		if _, err := mail.ParseAddress(s.SMTP.From); err != nil {
			mv.errAt("from", mv.field("host"), "%s: want a mail address (required with alerting.smtp.host)", quote(s.SMTP.From))
		}
		if s.SMTP.Password != "" && s.SMTP.Username == "" {
			mv.errf("password", "set alerting.smtp.username too")
		}
	}
	switch s.SMTP.TLS {
	case "none", "starttls", "opportunistic", "tls":
	default:
		mv.errf("tls", "%s: want none, starttls, opportunistic or tls", quote(s.SMTP.TLS))
	}
	positive(mv, "timeout", s.SMTP.Timeout)
	wv := v.sub("webhook")
	if s.Webhook.URL != "" && !httpURL(string(s.Webhook.URL)) {
		wv.errf("url", "%s: want an absolute http:// or https:// URL", quote(s.Webhook.URL.String()))
	}
	positive(wv, "timeout", s.Webhook.Timeout)
	if s.Webhook.MaxAlerts < 0 {
		wv.errf("max_alerts", "%d: want 0 (no cap) or more", s.Webhook.MaxAlerts)
	}
	positive(v.sub("command"), "timeout", s.Command.Timeout)
	nv := v.sub("notify")
	if positive(nv, "retry_backoff", s.Notify.RetryBackoff) && positive(nv, "max_backoff", s.Notify.MaxBackoff) &&
		s.Notify.MaxBackoff < s.Notify.RetryBackoff {
		nv.errf("max_backoff", "%s: want at least alerting.notify.retry_backoff (%s)", fmtDuration(s.Notify.MaxBackoff), fmtDuration(s.Notify.RetryBackoff))
	}
	if s.Notify.MaxAttempts < 1 || s.Notify.MaxAttempts > 1000 {
		nv.errf("max_attempts", "%d: want 1..1000", s.Notify.MaxAttempts)
	}
	if s.Notify.FailAfter < 1 {
		nv.errf("fail_after", "%d: want at least 1", s.Notify.FailAfter)
	}
	positive(nv, "send_timeout", s.Notify.SendTimeout)
	sv := v.sub("storm")
	if s.Storm.GroupWait < 0 || s.Storm.GroupWait > time.Hour {
		sv.errf("group_wait", "%s: want 0 to 1h", fmtDuration(s.Storm.GroupWait))
	}
	if s.Storm.GroupBy != "target" && s.Storm.GroupBy != "check" {
		sv.errf("group_by", "%s: want target or check", quote(s.Storm.GroupBy))
	}
	positive(sv, "flap_window", s.Storm.FlapWindow)
	if s.Storm.FlapThreshold < 2 {
		sv.errf("flap_threshold", "%d: want at least 2", s.Storm.FlapThreshold)
	}
	ev := v.sub("event_time")
	atLeast(ev, "max_future", s.EventTime.MaxFuture, time.Second)
	atLeast(ev, "max_past", s.EventTime.MaxPast, time.Second)
	xv := v.sub("maintenance")
	positive(xv, "default_duration", s.Maintenance.DefaultDuration)
	atLeast(xv, "recheck", s.Maintenance.Recheck, time.Second)

	// Names and cross-references.
	cals := names(v, "calendars", len(s.Calendars), func(i int) string { return s.Calendars[i].Name })
	for i, c := range s.Calendars {
		cv := v.sub(fmt.Sprintf("calendars[%d]", i))
		if _, err := time.LoadLocation(c.TimeZone); err != nil {
			cv.errf("time_zone", "%s: unknown time zone", quote(c.TimeZone))
		}
		for j, d := range c.Days {
			switch strings.ToLower(d) {
			case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
			default:
				cv.errf(fmt.Sprintf("days[%d]", j), "%s: want mon, tue, wed, thu, fri, sat or sun", quote(d))
			}
		}
		for _, f := range []struct{ key, val string }{{"from", c.From}, {"to", c.To}} {
			if _, err := time.Parse("15:04", f.val); f.val != "" && err != nil {
				cv.errf(f.key, "%s: want HH:MM", quote(f.val))
			}
		}
		for j, d := range c.Except {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				cv.errf(fmt.Sprintf("except[%d]", j), "%s: want a date YYYY-MM-DD", quote(d))
			}
		}
	}
	contacts := names(v, "contacts", len(s.Contacts), func(i int) string { return s.Contacts[i].Name })
	for i, c := range s.Contacts {
		cv := v.sub(fmt.Sprintf("contacts[%d]", i))
		for j, m := range c.Mail {
			if _, err := mail.ParseAddress(m); err != nil {
				cv.errf(fmt.Sprintf("mail[%d]", j), "%s: not a mail address", quote(m))
			}
		}
		if c.Webhook != "" && !httpURL(string(c.Webhook)) {
			cv.errf("webhook", "%s: want an absolute http:// or https:// URL", quote(c.Webhook.String()))
		}
	}
	roles := names(v, "roles", len(s.Roles), func(i int) string { return s.Roles[i].Name })
	for i, r := range s.Roles {
		rv := v.sub(fmt.Sprintf("roles[%d]", i))
		if len(r.Contacts) == 0 {
			rv.errAt("contacts", rv.path+".name", "want at least one contact")
		}
		for j, c := range r.Contacts {
			if !contacts[c] {
				rv.errf(fmt.Sprintf("contacts[%d]", j), "%s: no such contact in alerting.contacts", quote(c))
			}
		}
		if r.Calendar != "" && !cals[r.Calendar] {
			rv.errf("calendar", "%s: no such calendar in alerting.calendars", quote(r.Calendar))
		}
	}
	names(v, "policies", len(s.Policies), func(i int) string { return s.Policies[i].Name })
	for i, p := range s.Policies {
		pv := v.sub(fmt.Sprintf("policies[%d]", i))
		if len(p.Steps) == 0 {
			pv.errAt("steps", pv.path+".name", "want at least one step")
		}
		if p.Repeat < 0 || p.Repeat > 100 {
			pv.errf("repeat", "%d: want 0..100", p.Repeat)
		}
		if p.Window != "" && !cals[p.Window] {
			pv.errf("window", "%s: no such calendar in alerting.calendars", quote(p.Window))
		}
		if p.AckTimeout < 0 {
			pv.errf("ack_timeout", "%s: want 0 (never) or more", fmtDuration(p.AckTimeout))
		}
		mv := pv.sub("match")
		for j, sev := range p.Match.Severities {
			switch sev {
			case "critical", "major", "minor", "warning", "info":
			default:
				mv.errf(fmt.Sprintf("severities[%d]", j), "%s: want critical, major, minor, warning or info", quote(sev))
			}
		}
		for _, list := range []struct {
			key string
			pat []string
		}{{"targets", p.Match.Targets}, {"checks", p.Match.Checks}} {
			for j, pat := range list.pat {
				if _, err := path.Match(pat, ""); err != nil {
					mv.errf(fmt.Sprintf("%s[%d]", list.key, j), "%s: bad pattern", quote(pat))
				}
			}
		}
		for j, st := range p.Steps {
			stv := pv.sub(fmt.Sprintf("steps[%d]", j))
			if len(st.Roles)+len(st.Contacts) == 0 {
				stv.errAt("roles", stv.path, "want at least one role or contact")
			}
			for k, r := range st.Roles {
				if !roles[r] {
					stv.errf(fmt.Sprintf("roles[%d]", k), "%s: no such role in alerting.roles", quote(r))
				}
			}
			for k, c := range st.Contacts {
				if !contacts[c] {
					stv.errf(fmt.Sprintf("contacts[%d]", k), "%s: no such contact in alerting.contacts", quote(c))
				}
			}
			if len(st.Channels) == 0 {
				stv.errAt("channels", stv.path, "want at least one of mail, webhook, command")
			}
			for k, ch := range st.Channels {
				key := fmt.Sprintf("channels[%d]", k)
				switch ch {
				case "mail":
					if s.SMTP.Host == "" {
						stv.errf(key, "mail: set alerting.smtp.host to send mail")
					}
				case "webhook":
				case "command":
					if s.Command.Path == "" {
						stv.errf(key, "command: set alerting.command.path")
					}
				default:
					stv.errf(key, "%s: want mail, webhook or command", quote(ch))
				}
			}
			if st.Wait < 0 {
				stv.errf("wait", "%s: want 0 or more", fmtDuration(st.Wait))
			}
		}
	}
}

// names checks the name field of each item of a list: valid and unique. It
// returns the set of names.
func names(v validator, list string, n int, name func(int) string) map[string]bool {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		nm := name(i)
		iv := v.sub(fmt.Sprintf("%s[%d]", list, i))
		switch {
		case !alertName(nm):
			iv.errAt("name", iv.path, "%s: want 1 to 64 of a-z, 0-9, '-', '_', '.'", quote(nm))
		case seen[nm]:
			iv.errf("name", "%s: a second one with this name in alerting.%s", quote(nm), list)
		}
		seen[nm] = true
	}
	return seen
}

func alertName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
