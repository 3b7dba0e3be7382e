package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/unyo-ops/unyo/alerting/notify"
)

// ExitTempFail is the exit status that asks for a retry (sysexits EX_TEMPFAIL).
const ExitTempFail = 75

// Command is the command notifier.
type Command struct {
	cfg Config
}

var _ notify.Notifier = (*Command)(nil)

// New returns a command notifier after validating cfg.
func New(cfg Config) (*Command, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("command: %w", err)
	}
	return &Command{cfg: cfg}, nil
}

// Notify runs the program with m.
func (c *Command) Notify(ctx context.Context, m notify.Message) (bool, error) {
	in, err := json.Marshal(m)
	if err != nil {
		return false, fmt.Errorf("command: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.cfg.Path, c.cfg.Args...)
	cmd.Stdin = bytes.NewReader(in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ids := make([]string, len(m.Items))
	for i, it := range m.Items {
		ids[i] = strconv.FormatInt(it.Incident.ID, 10)
	}
	cmd.Env = append(os.Environ(),
		"UNYO_KIND="+m.Kind, "UNYO_SUBJECT="+m.Subject(), "UNYO_TO="+strings.Join(m.To, ","),
		"UNYO_ROLE="+m.Role, "UNYO_LEVEL="+strconv.Itoa(m.Level), "UNYO_KEY="+m.Key,
		"UNYO_INCIDENTS="+strings.Join(ids, ","), "UNYO_TEXT="+m.Text())
	cmd.WaitDelay = c.cfg.Timeout
	err = cmd.Run()
	if err == nil {
		return false, nil
	}
	tail := strings.TrimSpace(out.String())
	if len(tail) > 300 {
		tail = tail[len(tail)-300:]
	}
	if ctx.Err() != nil {
		return true, fmt.Errorf("command %s: timed out after %s: %s", c.cfg.Path, c.cfg.Timeout, tail)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode() == ExitTempFail, fmt.Errorf("command %s: exit status %d: %s", c.cfg.Path, ee.ExitCode(), tail)
	}
	return false, fmt.Errorf("command %s: %w", c.cfg.Path, err)
}
