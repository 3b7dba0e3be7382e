package mail

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// MaxAttachments caps the bytes SendFiles attaches in one message.
const MaxAttachments = 20 << 20

// SendFiles sends one plain-text message with attachments (name → bytes,
// attached in the order of names) to every address in to: the monthly
// report to its readers. key, when set, makes the Message-ID, so a resend
// of the same report is recognisable.
func (s *Mail) SendFiles(ctx context.Context, to []string, subject, text, key string, names []string, files map[string][]byte) error {
	if len(to) == 0 {
		return fmt.Errorf("mail: no address to send to")
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("mail: from: %w", err)
	}
	if err := msg.To(to...); err != nil {
		return fmt.Errorf("mail: to: %w", err)
	}
	msg.Subject(subject)
	msg.SetDate()
	if key != "" {
		msg.SetMessageIDWithValue(messageID(key, s.cfg.Host))
	}
	msg.SetGenHeader("X-Unyo-Kind", "report")
	msg.SetBodyString(gomail.TypeTextPlain, text)
	total := 0
	for _, n := range names {
		b := files[n]
		total += len(b)
		if total > MaxAttachments {
			return fmt.Errorf("mail: attachments over %d bytes (at %s)", MaxAttachments, n)
		}
		if err := msg.AttachReader(n, bytes.NewReader(b)); err != nil {
			return fmt.Errorf("mail: attach %s: %w", n, err)
		}
	}
	c, err := gomail.NewClient(s.cfg.Host, s.options()...)
	if err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("mail: send to %s via %s: %w", strings.Join(to, ", "), net.JoinHostPort(s.cfg.Host, fmt.Sprint(s.cfg.Port)), err)
	}
	return nil
}
