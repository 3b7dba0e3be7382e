package mail_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/alerting/notify/mail"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
)

func message() notify.Message {
	t0 := time.Date(2026, 11, 22, 3, 10, 0, 0, time.UTC)
	inc := incident.Incident{ID: 12, Target: "db01", Check: "ping", Severity: incident.Critical, State: incident.Open,
		Message: "no reply after 3 pings", OpenedAt: t0, Count: 1, Runbook: "ping-down"}
	return notify.Message{Key: "12/c0/r0/s0/mail", Kind: notify.KindProblem, Channel: "mail",
		To: []string{"ops@example.com", "yamada@example.com"}, Role: "operator", Level: 1,
		Items: []notify.Item{{Incident: inc, URL: notify.IncidentURL("https://unyo.example", 12),
			RunbookURL: notify.RunbookURL("https://unyo.example", "ping-down")}},
		Location: time.FixedZone("JST", 9*3600)}
}

func newMail(t *testing.T, srv *mailtest.Server) *mail.Mail {
	t.Helper()
	m, err := mail.New(mail.Config{Host: srv.Host(), Port: srv.Port(), From: "unyo@example.com", TLS: mail.TLSNone, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMailContent(t *testing.T) {
	srv := mailtest.New(t)
	m := newMail(t, srv)
	if retry, err := m.Notify(t.Context(), message()); err != nil {
		t.Fatalf("Notify = %v (retry %v)", err, retry)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if got.From != "unyo@example.com" || !slices.Equal(got.To, []string{"ops@example.com", "yamada@example.com"}) {
		t.Errorf("envelope from %q to %v", got.From, got.To)
	}
	subject, body, h, err := mailtest.Decode(got.Data)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "[CRITICAL] db01: ping - no reply after 3 pings" {
		t.Errorf("subject %q", subject)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Errorf("Content-Type %q, want text/plain UTF-8", ct)
	}
	if id := h.Get("Message-Id"); !strings.Contains(id, "12.c0.r0.s0.mail@unyo.") {
		t.Errorf("Message-Id %q does not carry the key", id)
	}
	for _, want := range []string{
		"Server:   db01\n", "Time:     2026-11-22 12:10:00 JST\n", "Fault:    ping (critical)\n",
		"Content:  no reply after 3 pings\n", "Incident: https://unyo.example/incidents/12\n",
		"Runbook:  https://unyo.example/runbooks/ping-down\n", "Escalation step 1 (operator)",
	} {
		if !strings.Contains(strings.ReplaceAll(body, "\r\n", "\n"), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if len([]rune(line)) > 100 {
			t.Errorf("line too long for a phone: %q", line)
		}
	}
}

func TestMailFailures(t *testing.T) {
	tests := []struct {
		name      string
		code      int
		wantRetry bool
	}{
		{"temporary 421", 421, true},
		{"permanent 554", 554, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.New(t)
			srv.Fail(tt.code)
			retry, err := newMail(t, srv).Notify(t.Context(), message())
			if err == nil || retry != tt.wantRetry {
				t.Fatalf("Notify = retry %v, %v; want retry %v and an error", retry, err, tt.wantRetry)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		m, _ := mail.New(mail.Config{Host: "127.0.0.1", Port: 1, From: "u@example.com", TLS: mail.TLSNone, Timeout: time.Second})
		retry, err := m.Notify(context.Background(), message())
		if err == nil || !retry {
			t.Fatalf("Notify = retry %v, %v; want a retryable error", retry, err)
		}
	})
	t.Run("no recipients", func(t *testing.T) {
		srv := mailtest.New(t)
		msg := message()
		msg.To = nil
		if retry, err := newMail(t, srv).Notify(t.Context(), msg); err == nil || retry {
			t.Fatalf("Notify = retry %v, %v", retry, err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	ok := mail.Config{Host: "smtp", Port: 25, From: "unyo@example.com", TLS: "none", Timeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(c *mail.Config){
		"host":     func(c *mail.Config) { c.Host = "" },
		"port":     func(c *mail.Config) { c.Port = 0 },
		"from":     func(c *mail.Config) { c.From = "nobody" },
		"tls":      func(c *mail.Config) { c.TLS = "ssl" },
		"timeout":  func(c *mail.Config) { c.Timeout = 0 },
		"username": func(c *mail.Config) { c.Password = "x" },
	} {
		c := ok
		mut(&c)
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), name) {
			t.Errorf("%s: Validate = %v, want an error naming %s", name, err, name)
		}
	}
}
