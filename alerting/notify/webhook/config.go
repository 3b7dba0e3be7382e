package webhook

import (
	"fmt"
	"net/url"
	"time"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Config is the webhook notifier.
type Config struct {
	// URL is used for messages without a destination of their own (a
	// contact without a webhook URL); empty: such messages fail.
	URL string
	// Timeout bounds one POST.
	Timeout time.Duration
	// MaxAlerts caps the alerts in one payload (0: no cap); the rest are
	// counted in truncatedAlerts.
	MaxAlerts int
}

// Validate reports the first problem, naming the field.
func (c *Config) Validate() error {
	if c.URL != "" {
		if err := CheckURL(c.URL); err != nil {
			return fmt.Errorf("url: %w", err)
		}
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout %s: want more than 0", c.Timeout)
	}
	if c.MaxAlerts < 0 {
		return fmt.Errorf("max_alerts %d: want 0 or more", c.MaxAlerts)
	}
	return nil
}

// CheckURL reports whether s is an absolute http(s) URL.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http:// or https:// URL", redact.URL(s))
	}
	return nil
}
