package cli

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
)

// Shell completion (unyo completion bash|zsh|fish|powershell) completes
// the commands and flags from the tree, and the names a command takes
// (incident ids, target and jobnet names, run ids) by asking the node at
// --server with the user's token. A node that does not answer within
// completionTimeout, or refuses, completes nothing: never an error on the
// operator's terminal, never a hang.

// completionTimeout bounds the one API call a completion makes.
const completionTimeout = 3 * time.Second

// completionLimit is how many names a completion offers at most.
const completionLimit = 200

// noArgs completes nothing for a command that takes no arguments.
var noArgs = cobra.NoFileCompletions

// completeOutput completes -o.
var completeOutput = cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp)

type completeFunc = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

// completeWith completes the first argument with what names returns from
// the node at e; later arguments complete nothing.
func completeWith(env *Env, e *endpoint, names func(context.Context, *client.Client) ([]cobra.Completion, error)) completeFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return ask(cmd.Context(), env, e, toComplete, names), cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlagWith completes a flag's value with names.
func completeFlagWith(env *Env, e *endpoint, names func(context.Context, *client.Client) ([]cobra.Completion, error)) completeFunc {
	return func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return ask(cmd.Context(), env, e, toComplete, names), cobra.ShellCompDirectiveNoFileComp
	}
}

// ask calls names with a bounded time and keeps those starting with
// prefix; any failure is no completion.
func ask(ctx context.Context, env *Env, e *endpoint, prefix string, names func(context.Context, *client.Client) ([]cobra.Completion, error)) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	c, err := newClient(env, *e)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	all, err := names(ctx, c)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// completion is one name with its description, both made safe for the
// shell's menu (no tab, no line break, no control character).
func completion(name, desc string) cobra.Completion {
	name = strings.Join(strings.Fields(safe(name)), "_")
	if desc = oneLine(desc, 60); desc == "" {
		return name
	}
	return cobra.CompletionWithDesc(name, desc)
}

// completeIncidents completes an incident id: the ones not closed when
// acting on one (ack, resolve, close, comment), any recent one otherwise.
func completeIncidents(env *Env, e *endpoint, acting bool) completeFunc {
	return completeWith(env, e, func(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
		o := client.ListOptions{Limit: completionLimit}
		if acting {
			o.States = []incident.State{incident.Open, incident.Acknowledged, incident.Resolved}
		}
		incs, err := c.Incidents(ctx, o)
		if err != nil {
			return nil, err
		}
		out := make([]cobra.Completion, 0, len(incs))
		for _, i := range incs {
			out = append(out, completion(strconv.FormatInt(i.ID, 10), string(i.State)+" "+i.Target+"/"+i.Check+": "+i.Message))
		}
		return out, nil
	})
}

func targetNames(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
	ts, err := c.Targets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(ts))
	for _, t := range ts {
		out = append(out, completion(t.Name, string(t.Status)+" "+t.Address))
	}
	return out, nil
}

func jobnetNames(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
	ns, err := c.Jobnets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(ns))
	for _, n := range ns {
		out = append(out, completion(n.Name, strings.Join(n.Schedules, "; ")))
	}
	return out, nil
}

func runIDs(ctx context.Context, c *client.Client) ([]cobra.Completion, error) {
	rs, err := c.Runs(ctx, "", completionLimit)
	if err != nil {
		return nil, err
	}
	out := make([]cobra.Completion, 0, len(rs))
	for _, r := range rs {
		out = append(out, completion(r.ID, r.Jobnet+" "+string(r.Status)))
	}
	return out, nil
}

// completeTargets completes a target name (an argument or a flag's value).
func completeTargets(env *Env, e *endpoint) completeFunc {
	return completeFlagWith(env, e, targetNames)
}

// completeJobnets completes a jobnet name as a flag's value.
func completeJobnets(env *Env, e *endpoint) completeFunc {
	return completeFlagWith(env, e, jobnetNames)
}
