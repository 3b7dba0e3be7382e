package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/agents"
)

// agentsTagCmd is `unyo agents tag NAME [+TAG|-TAG]... | --set T1,T2`.
func agentsTagCmd(env *Env) *cobra.Command {
	const usage = "usage: unyo agents tag NAME +TAG... -TAG... | unyo agents tag NAME --set TAG,TAG (--set '' removes all)"
	c := &cobra.Command{Use: "tag NAME [+TAG|-TAG]...", Short: "add (+TAG) or remove (-TAG) an agent's tags, or --set them (which run_on.tag jobs it takes)"}
	a := newAPICmd(env, c)
	set := c.Flags().String("set", "", "replace the tags with this comma-separated list ('' for none)")
	c.Flags().SetInterspersed(false) // -TAG is an argument, not a flag
	c.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) == 0 {
			return usagef("%s", usage)
		}
		var req agents.TagsRequest
		if c.Flags().Changed("set") {
			s := splitList(*set)
			if s == nil {
				s = []string{}
			}
			req.Set = &s
		}
		// Flags may follow the tags: -TAG is a tag (-o and -h stay
		// flags), anything else goes to the flag parser.
		var rest []string
		for _, p := range pos[1:] {
			switch {
			case strings.HasPrefix(p, "+") && len(p) > 1:
				req.Add = append(req.Add, p[1:])
			case strings.HasPrefix(p, "-") && !strings.HasPrefix(p, "--") && len(p) > 1 && p != "-o" && p != "-h":
				req.Remove = append(req.Remove, p[1:])
			default:
				rest = append(rest, p)
			}
		}
		if err := c.Flags().Parse(rest); err != nil {
			return usagef("%v\n%s", err, usage)
		}
		if extra := c.Flags().Args(); len(extra) > 0 {
			return usagef("%q: want +TAG or -TAG\n%s", extra[0], usage)
		}
		if c.Flags().Changed("set") && req.Set == nil {
			s := splitList(*set)
			if s == nil {
				s = []string{}
			}
			req.Set = &s
		}
		if req.Set == nil && len(req.Add)+len(req.Remove) == 0 {
			return usagef("%s", usage)
		}
		for _, t := range append(append([]string{}, req.Add...), req.Remove...) {
			if err := agents.CheckTags([]string{t}); err != nil {
				return usagef("%v", err)
			}
		}
		cl, err := a.connect(pos[:1], 1, agentsUsage)
		if err != nil {
			return err
		}
		tags, err := cl.SetAgentTags(ctx, pos[0], req)
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, map[string]any{"agent": pos[0], "tags": tags})
		}
		fmt.Fprintf(env.Stdout, "%s: tags [%s]\n", safe(pos[0]), safe(strings.Join(tags, " ")))
		return nil
	})
	return c
}
