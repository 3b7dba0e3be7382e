package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/unyo-ops/unyo/alerting/notify"
)

// Mail is the SMTP notifier.
type Mail struct {
	cfg Config
}

var _ notify.Notifier = (*Mail)(nil)

// New returns a mail notifier after validating cfg.
func New(cfg Config) (*Mail, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &Mail{cfg: cfg}, nil
}

// Notify sends m to every address in m.To as one message.
func (s *Mail) Notify(ctx context.Context, m notify.Message) (bool, error) {
	if len(m.To) == 0 {
		return false, notify.ErrNoDestination
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return false, fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(m.To...); err != nil {
		return false, fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(m.Subject())
	msg.SetDate()
	if m.Key != "" {
		msg.SetMessageIDWithValue(messageID(m.Key, s.cfg.Host))
	}
	msg.SetGenHeader("X-Unyo-Kind", m.Kind)
	msg.SetBulk()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text())

	c, err := gomail.NewClient(s.cfg.Host, s.options()...)
	if err != nil {
		return false, fmt.Errorf("mail: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return retryable(err), fmt.Errorf("mail: send to %s via %s: %w", strings.Join(m.To, ", "),
			net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)), err)
	}
	return false, nil
}

// options are the SMTP client options of the configuration.
func (s *Mail) options() []gomail.Option {
	opts := []gomail.Option{gomail.WithPort(s.cfg.Port), gomail.WithTimeout(s.cfg.Timeout)}
	if s.cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.cfg.HELO))
	}
	switch s.cfg.TLS {
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSOpportunistic:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	}
	if s.cfg.InsecureSkipVerify {
		opts = append(opts, gomail.WithTLSConfig(&tls.Config{ServerName: s.cfg.Host, InsecureSkipVerify: true})) //nolint:gosec // tests only
	}
	if s.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthPlain),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return opts
}

// retryable: 5xx replies are permanent; everything else (4xx, network,
// timeouts) is worth another try.
func retryable(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code >= 500 && code < 600 {
			return false
		}
		if code := se.ErrorCode(); code >= 400 && code < 500 {
			return true
		}
		return se.IsTemp() || se.ErrorCode() == 0
	}
	return true
}

// messageID turns a notification key into a Message-ID local part.
func messageID(key, host string) string {
	r := strings.NewReplacer("<", "", ">", "", "@", ".", " ", "_", "/", ".", "|", ".", ":", ".")
	return r.Replace(key) + "@unyo." + strings.Trim(host, "[]")
}
