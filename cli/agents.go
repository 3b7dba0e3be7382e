package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/agent"
	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/rollout"
)

const agentsUsage = `usage:
  unyo agents list | show NAME [--inventory] | diff NAME
  unyo agents token create --group G [--ttl 24h] [--max-uses N] | token list | token revoke ID
  unyo agents import FILE
  unyo agents secret set --group G [--secret-stdin]
  unyo agents tag NAME +TAG -TAG | --set TAG,TAG
  unyo agents op NAME sysinfo|hardware|software|processes
  unyo agents op NAME files.search DIR [PATTERN] | files.view FILE
  unyo agents op NAME command CMD`

func agentsCmd(env *Env) *cobra.Command {
	mk := func(use, short string, fn func(ctx context.Context, a *apiCmd, pos []string) error) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short}
		a := newAPICmd(env, c)
		c.RunE = run(func(ctx context.Context, pos []string) error { return fn(ctx, a, pos) })
		return c
	}
	list := mk("list", "enrolled agents, live (version, kind, group, home, last seen, slots)", func(ctx context.Context, a *apiCmd, pos []string) error {
		c, err := a.connect(pos, 0, agentsUsage)
		if err != nil {
			return err
		}
		l, err := c.Agents(ctx)
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, l)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "NAME\tSTATE\tKIND\tGROUP\tTAGS\tVERSION\tHOME\tLAST SEEN\tSLOTS")
		now := time.Now()
		for _, x := range l {
			st := "down"
			if x.Live {
				st = "live"
			} else if !x.Down {
				st = "-"
			}
			tags := "-"
			if len(x.Tags) > 0 {
				tags = strings.Join(x.Tags, ",")
			}
			if x.Disabled {
				st = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\n", safe(x.Name), st, x.Kind, safe(x.Group), safe(tags), safe(x.Version), safe(x.Home),
				ago(now, &x.LastSeen), x.SlotsUsed, x.Slots)
		}
		return tw.Flush()
	})
	show := &cobra.Command{Use: "show NAME", Short: "one agent; --inventory adds its newest inventory"}
	sa := newAPICmd(env, show)
	withInv := show.Flags().Bool("inventory", false, "show the newest inventory too")
	show.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := sa.connect(pos, 1, agentsUsage)
		if err != nil {
			return err
		}
		x, err := c.Agent(ctx, pos[0])
		if err != nil {
			return err
		}
		out := map[string]any{"agent": x}
		if *withInv {
			inv, err := c.AgentInventory(ctx, pos[0])
			if err != nil {
				return err
			}
			out["inventory"] = inv
		}
		return printJSON(env.Stdout, out)
	})
	diff := mk("diff NAME", "what changed between the agent's last two inventories", func(ctx context.Context, a *apiCmd, pos []string) error {
		c, err := a.connect(pos, 1, agentsUsage)
		if err != nil {
			return err
		}
		d, err := c.AgentDiff(ctx, pos[0])
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, d)
		}
		for _, ch := range d.Changes {
			fmt.Fprintln(env.Stdout, safe(ch.String()))
		}
		return nil
	})
	tcreate := &cobra.Command{Use: "create", Short: "make a group enrolment token (printed once)"}
	ta := newAPICmd(env, tcreate)
	tgroup := tcreate.Flags().String("group", agents.DefaultGroup, "the group agents enrol into")
	ttl := tcreate.Flags().Duration("ttl", 24*time.Hour, "how long the token is valid (at most 2160h)")
	maxUses := tcreate.Flags().Int("max-uses", 0, "enrolments allowed (0: unbounded until it expires)")
	tcreate.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ta.connect(pos, 0, agentsUsage)
		if err != nil {
			return err
		}
		t, err := c.CreateAgentToken(ctx, *tgroup, *ttl, *maxUses)
		if err != nil {
			return err
		}
		if ta.json() {
			return printJSON(env.Stdout, t)
		}
		fmt.Fprintf(env.Stderr, "token %s for group %s, expires %s (shown once)\n", t.ID, t.Group, fmtTime(t.Expires))
		fmt.Fprintln(env.Stdout, t.Secret)
		return nil
	})
	tlist := mk("list", "enrolment tokens", func(ctx context.Context, a *apiCmd, pos []string) error {
		c, err := a.connect(pos, 0, agentsUsage)
		if err != nil {
			return err
		}
		l, err := c.AgentTokens(ctx)
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, l)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tGROUP\tBY\tEXPIRES\tUSES\tREVOKED")
		for _, t := range l {
			rev := "-"
			if !t.Revoked.IsZero() {
				rev = fmtTime(t.Revoked)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", t.ID, safe(t.Group), safe(t.By), fmtTime(t.Expires), t.Uses, rev)
		}
		return tw.Flush()
	})
	trevoke := mk("revoke ID", "revoke an enrolment token", func(ctx context.Context, a *apiCmd, pos []string) error {
		c, err := a.connect(pos, 1, agentsUsage)
		if err != nil {
			return err
		}
		return c.RevokeAgentToken(ctx, pos[0])
	})
	token := group("token", "group enrolment tokens", "", tcreate, tlist, trevoke)
	imp := mk("import FILE", "import a standalone server's inventory file (unyo agent collect)", func(ctx context.Context, a *apiCmd, pos []string) error {
		c, err := a.connect(pos, 1, agentsUsage)
		if err != nil {
			return err
		}
		b, err := readLimited(pos[0], agents.MaxInventoryBytes*2)
		if err != nil {
			return err
		}
		var f agents.CollectFile
		if err := json.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
		out, err := c.AgentImport(ctx, f)
		if err != nil {
			return err
		}
		return printJSON(env.Stdout, out)
	})
	op := &cobra.Command{Use: "op NAME OP [ARGS]", Short: "a remote operation on an agent (role-checked, audited)"}
	oa := newAPICmd(env, op)
	op.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) < 2 {
			return usagef("%s", agentsUsage)
		}
		c, err := oa.connect(pos[:0], 0, agentsUsage)
		if err != nil {
			return err
		}
		in := agents.OpInput{Op: pos[1]}
		args := pos[2:]
		switch in.Op {
		case "files.search":
			if len(args) > 0 {
				in.Path = args[0]
			}
			if len(args) > 1 {
				in.Pattern = args[1]
			}
		case "files.view":
			if len(args) > 0 {
				in.Path = args[0]
			}
		case "command":
			if len(args) != 1 {
				return usagef("unyo agents op NAME command CMD (a name from agents.commands)")
			}
			in.Command = args[0]
		}
		res, err := c.AgentOperate(ctx, pos[0], in)
		if err != nil {
			return err
		}
		if err := printJSON(env.Stdout, res); err != nil {
			return err
		}
		if !res.OK {
			return fmt.Errorf("agent %s: %s", pos[0], res.Error)
		}
		return nil
	})
	return group("agents", "enrolled agents: list, inventories, tokens, import, remote operations, move, not-moved", "",
		append([]*cobra.Command{list, show, diff, token, imp, op, agentsSecretCmd(env), agentsTagCmd(env)}, agentsFleetCmds(env)...)...)
}

func readLimited(path string, limit int) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// agentLifeCmds are `unyo agent enroll|run|once|collect`.
func agentLifeCmds(env *Env) []*cobra.Command {
	stateDir := func(c *cobra.Command) *string {
		return c.Flags().String("state-dir", envOr(env, "UNYO_AGENT_STATE", "/var/lib/unyo-agent"), "the agent's state directory (env UNYO_AGENT_STATE)")
	}
	enroll := &cobra.Command{Use: "enroll", Short: "enrol this server with a group token (keys made here, kept in the state directory, 0600)"}
	ed := stateDir(enroll)
	server := enroll.Flags().String("server", "", "the node's URL (required)")
	tokenFile := enroll.Flags().String("token-file", "", "file holding the enrolment token (or env UNYO_ENROLL_TOKEN)")
	tok := enroll.Flags().String("token", "", "the enrolment token (prefer --token-file: the command line is visible to others)")
	grp := enroll.Flags().String("group", "", "the group (must be the token's)")
	name := enroll.Flags().String("name", "", "agent name (default: the host name)")
	kind := enroll.Flags().String("kind", "resident", "resident, on-demand or standalone")
	hostID := enroll.Flags().String("host-id", "", "host id (default /etc/machine-id)")
	slots := enroll.Flags().Int("parallel", 16, "job slots")
	etags := enroll.Flags().StringArray("tag", nil, "a tag of the agent, one word (repeat): it takes run_on.tag jobs of that tag")
	enroll.RunE = run(func(ctx context.Context, pos []string) error {
		t := *tok
		if t == "" && *tokenFile != "" {
			s, err := readSecretFile(*tokenFile)
			if err != nil {
				return fmt.Errorf("--token-file: %w", err)
			}
			t = s
		}
		if t == "" {
			t = env.Getenv("UNYO_ENROLL_TOKEN")
		}
		if *server == "" || t == "" {
			return usagef("usage: unyo agent enroll --server URL --token-file FILE [--group G] [--name N] [--tag T]...")
		}
		if err := agents.CheckTags(*etags); err != nil {
			return usagef("--tag: %v", err)
		}
		st, err := agent.Enroll(ctx, agent.EnrollOptions{Dir: *ed, Server: *server, Token: t, Group: *grp, Name: *name,
			Kind: agents.Kind(*kind), Version: node.Version, Slots: *slots, HostID: *hostID, Tags: *etags})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "enrolled as %s in group %s (NATS %s)\n", st.Name, st.Group, st.NATS)
		return nil
	})
	runOpts := func(c *cobra.Command) func() agent.Options {
		d := stateDir(c)
		pkgs := c.Flags().String("packages-command", env.Getenv("UNYO_AGENT_PACKAGES_COMMAND"), "command listing packages as name<TAB>version[<TAB>arch] lines (default dpkg-query or rpm)")
		roots := c.Flags().StringSlice("file-root", nil, "directory remote file search and view may read (repeat); none: refused")
		logs := c.Flags().StringSlice("log", nil, "log file to monitor, PATH or APP=PATH (repeat)")
		hb := c.Flags().Duration("heartbeat", 0, "heartbeat interval (default: the node's)")
		inv := c.Flags().Duration("inventory-interval", 0, "inventory interval (default: the node's)")
		hid := c.Flags().String("host-id", "", "host id (default /etc/machine-id)")
		par := c.Flags().Int("parallel", 16, "jobs at once")
		return func() agent.Options {
			o := agent.Options{Dir: *d, Version: node.Version, FileRoots: *roots, Heartbeat: *hb, InventoryEvery: *inv, HostID: *hid, Parallel: *par}
			if *pkgs != "" {
				o.PackagesCommand = strings.Fields(*pkgs)
			}
			for _, l := range *logs {
				app, p, ok := strings.Cut(l, "=")
				if !ok {
					p, app = app, ""
				}
				o.Logs = append(o.Logs, agent.LogFile{Path: p, App: app})
			}
			return o
		}
	}
	runC := &cobra.Command{Use: "run", Short: "the resident agent (a service: see packaging/unyo-agent.service)"}
	ro := runOpts(runC)
	upd := agentUpdateFlags(env, runC)
	runC.RunE = run(func(ctx context.Context, _ []string) error {
		o := ro()
		if err := upd(&o); err != nil {
			return err
		}
		o.Logger = newAgentLogger(env)
		a, err := agent.Open(ctx, o)
		if err != nil {
			return err
		}
		defer a.Close()
		err = a.Run(ctx)
		if (errors.Is(err, agent.ErrTagsChanged) || errors.Is(err, rollout.ErrMoved)) && ctx.Err() == nil {
			a.Close()
			return reexecAgent(ctx)
		}
		return err
	})
	once := &cobra.Command{Use: "once", Short: "the on-demand agent: report once and exit"}
	onceOpts := runOpts(once)
	once.RunE = run(func(ctx context.Context, _ []string) error {
		o := onceOpts()
		o.Logger = newAgentLogger(env)
		a, err := agent.Open(ctx, o)
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Once(ctx)
	})
	collect := &cobra.Command{Use: "collect", Short: "standalone server: write the signed inventory to a file (unyo agents import FILE)"}
	cd := stateDir(collect)
	out := collect.Flags().String("out", "", "the file to write (required)")
	cname := collect.Flags().String("name", "", "agent name (default: the host name)")
	cgroup := collect.Flags().String("group", "", "group")
	cpkgs := collect.Flags().String("packages-command", env.Getenv("UNYO_AGENT_PACKAGES_COMMAND"), "command listing packages")
	chid := collect.Flags().String("host-id", "", "host id (default /etc/machine-id)")
	collect.RunE = run(func(ctx context.Context, _ []string) error {
		if *out == "" {
			return usagef("usage: unyo agent collect --out FILE")
		}
		var pc []string
		if *cpkgs != "" {
			pc = strings.Fields(*cpkgs)
		}
		return agent.Collect(ctx, *cd, *cname, *cgroup, node.Version, *out, inventory.Options{PackagesCommand: pc, HostID: *chid})
	})
	return []*cobra.Command{enroll, runC, once, collect, agentUninstallCmd(env)}
}

func envOr(env *Env, k, def string) string {
	if v := env.Getenv(k); v != "" {
		return v
	}
	return def
}

func newAgentLogger(env *Env) *slog.Logger { return slog.New(slog.NewTextHandler(env.Stderr, nil)) }

// reexecAgent restarts `unyo agent run` in place (same arguments and
// environment), after a pause that lets every node's NATS directory take
// the change that asked for it.
func reexecAgent(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Second):
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return syscall.Exec(exe, os.Args, os.Environ())
}
