package service

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Check kinds.
const (
	TCP      = "tcp"
	HTTP     = "http"
	Postgres = "postgres"
)

// Config is one service check of a target.
//
//	services:
//	  - type: tcp
//	    port: 25                      # on the target's address
//	  - type: http
//	    name: www                     # check name (default http, tcp:25, ...)
//	    url: https://www.example.jp/healthz   # default http://<address>/
//	    expect_status: [200]          # default any 2xx or 3xx
//	    body_regexp: '"status":"ok"'
//	    tls_skip_verify: false
//	  - type: postgres
//	    dsn: postgres://monitor@db01:5432/postgres?sslmode=disable
//	    query: SELECT 1               # default
//	    interval: 30s                 # default 30s (all kinds)
//	    timeout: 5s                   # default 5s
//	    down_after: 2                 # default 2 consecutive failures
type Config struct {
	Name          string           `yaml:"name"`
	Type          string           `yaml:"type"`
	Port          int              `yaml:"port"`
	Address       string           `yaml:"address"`
	URL           redact.SecretURL `yaml:"url"`
	ExpectStatus  []int            `yaml:"expect_status"`
	BodyRegexp    string           `yaml:"body_regexp"`
	TLSSkipVerify bool             `yaml:"tls_skip_verify"`
	DSN           redact.SecretDSN `yaml:"dsn"`
	Query         string           `yaml:"query"`
	Interval      time.Duration    `yaml:"interval"`
	Timeout       time.Duration    `yaml:"timeout"`
	DownAfter     int              `yaml:"down_after"`

	body *regexp.Regexp
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Name == "" {
		c.Name = c.Type
		if c.Type == TCP && c.Port != 0 {
			c.Name = fmt.Sprintf("tcp:%d", c.Port)
		}
	}
	if c.Interval == 0 {
		c.Interval = 30 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(5*time.Second, c.Interval)
	}
	if c.DownAfter == 0 {
		c.DownAfter = 2
	}
	if c.Type == Postgres && c.Query == "" {
		c.Query = "SELECT 1"
	}
}

// Validate checks the config after Defaults; errors name the field
// relative to the check ("port: required for tcp checks without
// address"). Every problem is reported (errors.Join).
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Type {
	case TCP, HTTP, Postgres:
	case "":
		add("type: required (tcp, http or postgres)")
	default:
		add("type: %q: want tcp, http or postgres", c.Type)
	}
	if c.Interval < time.Second {
		add("interval: %s: must be at least 1s", c.Interval)
	}
	if c.Timeout <= 0 || c.Timeout > c.Interval && c.Interval >= time.Second {
		add("timeout: %s: want above 0 and at most interval %s", c.Timeout, c.Interval)
	}
	if c.DownAfter < 1 || c.DownAfter > 1000 {
		add("down_after: %d: want 1 to 1000 checks", c.DownAfter)
	}
	if c.Port < 0 || c.Port > 65535 {
		add("port: %d: want 1 to 65535", c.Port)
	}
	if strings.ContainsAny(c.Name, "/ \t\n") {
		add("name: %q: must not contain '/' or spaces", c.Name)
	}
	switch c.Type {
	case TCP:
		if c.Port == 0 && c.Address == "" {
			add("port: required for tcp checks without address")
		}
	case HTTP:
		if c.URL != "" {
			u, err := url.Parse(string(c.URL))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add("url: %q: want an absolute http:// or https:// URL", c.URL.String())
			}
		}
		for i, s := range c.ExpectStatus {
			if s < 100 || s > 599 {
				add("expect_status[%d]: %d: not an HTTP status", i, s)
			}
		}
	case Postgres:
		if c.DSN == "" {
			add("dsn: required for postgres checks")
		}
	}
	if c.BodyRegexp != "" {
		if c.Type != HTTP {
			add("body_regexp: only for http checks")
		} else if re, err := regexp.Compile(c.BodyRegexp); err != nil {
			add("body_regexp: %w", err)
		} else {
			c.body = re
		}
	}
	return errors.Join(errs...)
}

// String prints the config with credentials in its URL or DSN hidden
// (package internal/redact).
func (c Config) String() string {
	return fmt.Sprintf("%s %s", c.Type, c.target())
}

func (c Config) target() string {
	switch c.Type {
	case HTTP:
		return c.URL.String()
	case Postgres:
		return c.DSN.String()
	}
	if c.Address != "" {
		return c.Address
	}
	return fmt.Sprintf(":%d", c.Port)
}

// Redact hides the password of a DSN (URL or key=value form); see
// redact.DSN.
func Redact(dsn string) string { return redact.DSN(dsn) }
