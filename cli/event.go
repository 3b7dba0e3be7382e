package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
)

// labelsFlag collects repeated --label k=v.
type labelsFlag map[string]string

func (l labelsFlag) String() string { return fmt.Sprint(map[string]string(l)) }

func (l labelsFlag) Type() string { return "key=value" }

func (l labelsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	l[k] = v
	return nil
}

func eventCmd(env *Env) *cobra.Command {
	return group("event", "send an event", "", eventSendCmd(env))
}

func eventSendCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "send", Short: "send an event: a problem opens or updates an incident, --ok ends it",
		Example: "  unyo event send --target web01 --check disk --severity major --message 'disk full'", ValidArgsFunction: noArgs}
	fs := cmd.Flags()
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
	out := outputFlag(cmd)
	wait := fs.Duration("wait", 10*time.Second, "with -o json: how long to wait for the incident the event opened or updated (its id is printed as \"incident\"); 0: do not wait")
	_ = cmd.RegisterFlagCompletionFunc("target", completeTargets(env, server))
	_ = cmd.RegisterFlagCompletionFunc("severity", cobra.FixedCompletions([]string{"critical", "major", "minor", "warning", "info"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		return eventSend(ctx, env, pos, *server, ev, *sev, *ok, *out, *wait)
	})
	return cmd
}

func eventSend(ctx context.Context, env *Env, pos []string, server endpoint, ev incident.Event, sev string, ok bool, out string, wait time.Duration) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	switch {
	case ev.Target == "":
		return usagef("--target: required")
	case ev.Check == "":
		return usagef("--check: required")
	case sev == "":
		return usagef("--severity: required (critical, major, minor, warning or info)")
	}
	if err := checkOutput(out); err != nil {
		return err
	}
	var err error
	if ev.Severity, err = incident.ParseSeverity(sev); err != nil {
		return usagef("--%v", err)
	}
	ev.Status = incident.Problem
	if ok {
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
	c, err := newClient(env, server)
	if err != nil {
		return err
	}
	ids, err := c.SendEvents(ctx, ev)
	if err != nil {
		return err
	}
	if out == "json" {
		sent := eventSent{IDs: ids}
		if wait > 0 {
			if sent.Incident, err = incidentOf(ctx, c, ev, wait); err != nil {
				return err
			}
		}
		return printJSON(env.Stdout, sent)
	}
	for _, id := range ids {
		fmt.Fprintln(env.Stdout, safe(id))
	}
	return nil
}

// eventSent is what event send -o json prints: the ids of the events the
// node accepted, and the incident the event opened or updated (omitted
// when none showed it within --wait, as for an ok event with nothing open).
type eventSent struct {
	IDs      []string `json:"ids"`
	Incident int64    `json:"incident,omitempty"`
}

// incidentOf waits up to wait for the incident that ev opened or updated:
// the newest with ev's dedup key last seen (a problem) or recovered (ok)
// at ev's time or later. The node applies events in the background; 0
// means none showed within wait.
func incidentOf(ctx context.Context, c *client.Client, ev incident.Event, wait time.Duration) (int64, error) {
	since := ev.Time.Add(-time.Millisecond) // stores keep microseconds
	deadline := time.Now().Add(wait)
	for {
		incs, err := c.Incidents(ctx, client.ListOptions{Target: ev.Target, Limit: 100})
		if err != nil {
			return 0, err
		}
		for _, i := range incs { // newest first
			if i.DedupKey != ev.DedupKey {
				continue
			}
			at := i.LastSeen
			if ev.Status == incident.OK {
				if i.RecoveredAt == nil {
					continue
				}
				at = *i.RecoveredAt
			}
			if !at.Before(since) {
				return i.ID, nil
			}
		}
		if !time.Now().Before(deadline) {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
