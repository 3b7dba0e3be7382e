package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/agent"
	"github.com/unyo-ops/unyo/agents"
)

// agentsSecretCmd is `unyo agents secret set --group G`: the group's
// uninstall secret, read from stdin or the terminal, never from argv.
func agentsSecretCmd(env *Env) *cobra.Command {
	set := &cobra.Command{Use: "set", Short: "set a group's uninstall secret (read from the terminal, or stdin with --secret-stdin)"}
	a := newAPICmd(env, set)
	grp := set.Flags().String("group", "", "the group (required)")
	stdin := set.Flags().Bool("secret-stdin", false, "read the secret from the first line of standard input")
	set.RunE = run(func(ctx context.Context, pos []string) error {
		if *grp == "" {
			return usagef("usage: unyo agents secret set --group G [--secret-stdin]")
		}
		c, err := a.connect(pos, 0, agentsUsage)
		if err != nil {
			return err
		}
		secret, err := readPassword(env, *stdin, "Uninstall secret for group "+*grp+": ")
		if err != nil {
			return err
		}
		if !*stdin {
			again, err := readPassword(env, false, "Again: ")
			if err != nil {
				return err
			}
			if again != secret {
				return errors.New("the secrets differ")
			}
		}
		if len(secret) < agents.MinSecretLen {
			return usagef("the secret: at least %d characters", agents.MinSecretLen)
		}
		g, err := c.SetAgentGroupSecret(ctx, *grp, secret)
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, g)
		}
		fmt.Fprintf(env.Stdout, "uninstall secret of group %s set\n", safe(g.Group))
		return nil
	})
	return group("secret", "per-group uninstall secrets (unyo agent uninstall asks for it)", "", set)
}

// agentUninstallCmd is `unyo agent uninstall`: the node checks the
// group's uninstall secret (env UNYO_UNINSTALL_SECRET, or asked on the
// terminal) before the agent removes its enrolment.
func agentUninstallCmd(env *Env) *cobra.Command {
	c := &cobra.Command{Use: "uninstall", Short: "remove this agent's enrolment, once the node accepts the group's uninstall secret (env UNYO_UNINSTALL_SECRET, or asked)"}
	dir := c.Flags().String("state-dir", envOr(env, "UNYO_AGENT_STATE", "/var/lib/unyo-agent"), "the agent's state directory (env UNYO_AGENT_STATE)")
	c.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("usage: unyo agent uninstall [--state-dir DIR]")
		}
		secret := env.Getenv("UNYO_UNINSTALL_SECRET")
		if secret == "" {
			s, err := readPassword(env, false, "Uninstall secret: ")
			if err != nil {
				return fmt.Errorf("%w (or set UNYO_UNINSTALL_SECRET)", err)
			}
			secret = s
		}
		a, err := agent.Open(ctx, agent.Options{Dir: *dir, Logger: newAgentLogger(env)})
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.Uninstall(ctx, secret); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "agent %s uninstalled: its enrolment is removed from %s and the node disabled it; stop and remove the service and package now\n", a.Name(), *dir)
		return nil
	})
	return c
}
