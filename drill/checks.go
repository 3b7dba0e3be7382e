package drill

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// MaxOutput caps what a command's output may be before it is cut (what a
// check or canary command prints beyond it is ignored).
const MaxOutput = 4096

// Command runs name with args (and env added to the process's) and
// returns its trimmed standard output; a non-zero exit is an error that
// carries the tail of its output.
func Command(ctx context.Context, name string, args []string, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cmd.Environ(), env...)
	var out capped
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		if text != "" {
			return text, fmt.Errorf("%s: %w: %s", name, err, lastLine(text))
		}
		return text, fmt.Errorf("%s: %w", name, err)
	}
	return text, nil
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

type capped struct{ bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := MaxOutput - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// TCPProbe is healthy when addr accepts a connection.
func TCPProbe(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// HTTPProbe is healthy when url answers 2xx or 3xx.
func HTTPProbe(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// CommandProbe is healthy when the command exits 0.
func CommandProbe(name string, args []string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := Command(ctx, name, args, nil)
		return err
	}
}

// TCPCanary writes to a service speaking the canary line protocol
// ("SET <seq>" → "OK", "GET" → "<seq>") at the first of Addrs that
// answers (a client that follows a pair, as libpq's multi-host
// connection strings do).
type TCPCanary struct{ Addrs []string }

func (c TCPCanary) roundTrip(ctx context.Context, line string) (string, error) {
	var errs []error
	for _, a := range c.Addrs {
		s, err := roundTrip(ctx, a, line)
		if err == nil && s != "READONLY" {
			return s, nil
		}
		if err == nil {
			err = fmt.Errorf("canary %s: read-only", a)
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

func roundTrip(ctx context.Context, addr, line string) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	}
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return "", err
	}
	r := bufio.NewReader(io.LimitReader(conn, 64))
	s, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("canary %s: %w", addr, err)
	}
	return strings.TrimSpace(s), nil
}

// Write implements Canary.
func (c TCPCanary) Write(ctx context.Context, seq int64) error {
	s, err := c.roundTrip(ctx, "SET "+strconv.FormatInt(seq, 10))
	if err != nil {
		return err
	}
	if s != "OK" {
		return fmt.Errorf("canary %v: answered %q to SET", c.Addrs, clip(s, 40))
	}
	return nil
}

// Highest implements Canary.
func (c TCPCanary) Highest(ctx context.Context, _ int64) (int64, error) {
	s, err := c.roundTrip(ctx, "GET")
	if err != nil {
		return 0, err
	}
	return ParseSeq(s)
}

// ParseSeq reads a canary sequence number (decimal, 0 or more).
func ParseSeq(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("canary: %q is not a sequence number", clip(s, 40))
	}
	return n, nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// CommandCanary writes with a command (the sequence number in its
// environment as UNYO_DRILL_SEQ and as its last argument) and reads the
// highest surviving one with another, which prints it.
type CommandCanary struct {
	WriteCmd, Read string
	WriteArgs      []string
	ReadArgs       []string
}

// Write implements Canary.
func (c CommandCanary) Write(ctx context.Context, seq int64) error {
	s := strconv.FormatInt(seq, 10)
	_, err := Command(ctx, c.WriteCmd, append(append([]string(nil), c.WriteArgs...), s), []string{"UNYO_DRILL_SEQ=" + s})
	return err
}

// Highest implements Canary.
func (c CommandCanary) Highest(ctx context.Context, _ int64) (int64, error) {
	out, err := Command(ctx, c.Read, c.ReadArgs, nil)
	if err != nil {
		return 0, err
	}
	return ParseSeq(lastLine(out))
}

// ErrNoCheck names a check that is not configured.
var ErrNoCheck = errors.New("no such check")
