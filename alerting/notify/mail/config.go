package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"time"
)

// TLS modes.
const (
	TLSNone          = "none"
	TLSStartTLS      = "starttls"
	TLSOpportunistic = "opportunistic"
	TLSImplicit      = "tls"
)

// Config is an SMTP relay.
type Config struct {
	Host     string
	Port     int
	From     string
	Username string
	Password string
	TLS      string
	// Timeout bounds one delivery: connect, dialogue and data.
	Timeout time.Duration
	// HELO name (default: the host name).
	HELO string
	// InsecureSkipVerify disables certificate checks (tests only).
	InsecureSkipVerify bool
}

// Validate reports the first problem, naming the field.
func (c *Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("host: required")
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("port %d: want 1..65535", c.Port)
	case c.Timeout <= 0:
		return fmt.Errorf("timeout %s: want more than 0", c.Timeout)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("from %q: not a mail address", c.From)
	}
	switch c.TLS {
	case TLSNone, TLSStartTLS, TLSOpportunistic, TLSImplicit:
	default:
		return fmt.Errorf("tls %q: want none, starttls, opportunistic or tls", c.TLS)
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("username: required with a password")
	}
	return nil
}
