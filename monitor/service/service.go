package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Errors a failed check wraps.
var (
	ErrStatus = errors.New("unexpected HTTP status")
	ErrBody   = errors.New("body does not match")
)

// Result of one check.
type Result struct {
	Time     time.Time
	Duration time.Duration // response time
	Status   int           // HTTP status, 0 for other kinds
	Err      error         // nil when the check passed
}

// Prober runs one kind of check against host (the target's address) and
// returns the response time and why it failed (nil: it passed).
type Prober func(ctx context.Context, host string, cfg *Config) (Result, error)

// Probers holds the check kinds by Config.Type.
var Probers = map[string]Prober{
	TCP:      probeTCP,
	HTTP:     probeHTTP,
	Postgres: probePostgres,
}

// Check runs cfg against host with cfg.Timeout as deadline. cfg must have
// been validated.
func Check(ctx context.Context, host string, cfg *Config) Result {
	start := time.Now()
	p, ok := Probers[cfg.Type]
	if !ok {
		return Result{Time: start, Err: fmt.Errorf("service: unknown type %q", cfg.Type)}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("%s check timed out after %s", cfg.Type, cfg.Timeout))
	defer cancel()
	r, err := p(ctx, host, cfg)
	r.Time = start
	if err != nil {
		if c := context.Cause(ctx); c != nil && ctx.Err() != nil && !errors.Is(err, c) {
			err = fmt.Errorf("%w: %w", c, err)
		}
		// The text becomes the event and incident message: net/http and
		// pgx quote the URL or DSN they were given, credentials and all.
		r.Err = redact.Err(err)
	}
	return r
}

func hostPort(host string, port int, addr string, def int) string {
	if addr != "" {
		if _, _, err := net.SplitHostPort(addr); err == nil {
			return addr
		}
		host = addr
	}
	if port == 0 {
		port = def
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func probeTCP(ctx context.Context, host string, cfg *Config) (Result, error) {
	addr := hostPort(host, cfg.Port, cfg.Address, 0)
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	r := Result{Duration: time.Since(start)}
	if err != nil {
		return r, fmt.Errorf("tcp connect %s: %w", addr, err)
	}
	c.Close()
	return r, nil
}

func probeHTTP(ctx context.Context, host string, cfg *Config) (Result, error) {
	u := string(cfg.URL)
	if u == "" {
		u = "http://" + hostPort(host, cfg.Port, cfg.Address, 80) + "/"
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: cfg.TLSSkipVerify},
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Result{}, fmt.Errorf("http request: %w", err)
	}
	req.Header.Set("User-Agent", "unyo-monitor")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Result{Duration: time.Since(start)}, fmt.Errorf("http get: %w", err)
	}
	defer resp.Body.Close()
	var body []byte
	if cfg.body != nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	} else {
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	}
	r := Result{Duration: time.Since(start), Status: resp.StatusCode}
	if err != nil {
		return r, fmt.Errorf("http read body: %w", err)
	}
	okStatus := resp.StatusCode >= 200 && resp.StatusCode < 400
	if len(cfg.ExpectStatus) > 0 {
		okStatus = slices.Contains(cfg.ExpectStatus, resp.StatusCode)
	}
	if !okStatus {
		want := "2xx or 3xx"
		if len(cfg.ExpectStatus) > 0 {
			want = strings.Trim(fmt.Sprint(cfg.ExpectStatus), "[]")
		}
		return r, fmt.Errorf("%w: got %d, want %s", ErrStatus, resp.StatusCode, want)
	}
	if cfg.body != nil && !cfg.body.Match(body) {
		return r, fmt.Errorf("%w /%s/", ErrBody, cfg.BodyRegexp)
	}
	return r, nil
}

func probePostgres(ctx context.Context, host string, cfg *Config) (Result, error) {
	start := time.Now()
	pc, err := pgx.ParseConfig(string(cfg.DSN))
	if err != nil {
		return Result{}, fmt.Errorf("postgres dsn %s: %w", cfg.DSN, err)
	}
	conn, err := pgx.ConnectConfig(ctx, pc)
	if err != nil {
		return Result{Duration: time.Since(start)}, fmt.Errorf("postgres connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	rows, err := conn.Query(ctx, cfg.Query)
	if err == nil {
		for rows.Next() {
		}
		rows.Close()
		err = rows.Err()
	}
	r := Result{Duration: time.Since(start)}
	if err != nil {
		return r, fmt.Errorf("postgres query: %w", err)
	}
	return r, nil
}
