package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// labelsFlag collects repeated --label k=v.
type labelsFlag map[string]string

func (l labelsFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	l[k] = v
	return nil
}

func runEvent(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "send" {
		return usagef("usage: unyo event send --target T --check C --severity S --message M [--ok]")
	}
	fs := flags(env, "event send")
	server := serverFlag(fs, env)
	ev := incident.Event{Labels: map[string]string{}}
	fs.StringVar(&ev.Target, "target", "", "target (server or device) name (required)")
	fs.StringVar(&ev.Check, "check", "", "check name (required)")
	sev := fs.String("severity", "", "critical, major, minor, warning or info (required)")
	fs.StringVar(&ev.Message, "message", "", "message")
	ok := fs.Bool("ok", false, "the problem is over (an ok event)")
	fs.StringVar(&ev.Source, "source", "cli", "source of the event")
	fs.StringVar(&ev.DedupKey, "dedup-key", "", "dedup key (default target/check)")
	fs.StringVar(&ev.Runbook, "runbook", "", "runbook id")
	fs.StringVar(&ev.ID, "id", "", "event id, for an idempotent retry (default random)")
	fs.Var(labelsFlag(ev.Labels), "label", "label key=value (repeatable)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	switch {
	case ev.Target == "":
		return usagef("--target: required")
	case ev.Check == "":
		return usagef("--check: required")
	case *sev == "":
		return usagef("--severity: required (critical, major, minor, warning or info)")
	}
	if ev.Severity, err = incident.ParseSeverity(*sev); err != nil {
		return usagef("--%v", err)
	}
	ev.Status = incident.Problem
	if *ok {
		ev.Status = incident.OK
	}
	if ev.ID == "" {
		ev.ID = incident.NewID()
	}
	ev.Normalize(time.Now())
	if err := ev.Validate(); err != nil {
		return usagef("--%v", err)
	}
	ev.Received = time.Time{} // the node stamps it
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	ids, err := c.SendEvents(ctx, ev)
	if err != nil {
		return err
	}
	for _, id := range ids {
		fmt.Fprintln(env.Stdout, safe(id))
	}
	return nil
}
