package cli

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/jsondur"
	"github.com/unyo-ops/unyo/rollout"
)

const releaseUsage = `usage:
  unyo release add --version V --file BIN --sig SIG [--platform linux/amd64] [--mode mandatory|optional|refuse] [--message M]
  unyo release mode VERSION --mode mandatory|optional|refuse [--message M] [--platform P]
  unyo release list`

func releaseCmd(env *Env) *cobra.Command {
	add := &cobra.Command{Use: "add", Short: "add a release of the agent binary (minisign-signed)", ValidArgsFunction: noArgs}
	aa := newAPICmd(env, add)
	version := add.Flags().String("version", "", "the release's version (required)")
	platform := add.Flags().String("platform", "linux/amd64", "GOOS/GOARCH of the binary")
	file := add.Flags().String("file", "", "the binary (required)")
	sig := add.Flags().String("sig", "", "its minisign signature file (required; default FILE.minisig)")
	mode := add.Flags().String("mode", rollout.ModeOptional, "mandatory (agents update before they run jobs), optional (agents run and are told), refuse (agents start no job)")
	message := add.Flags().String("message", "", "the administrator's message agents show and log")
	add.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := aa.connect(pos, 0, releaseUsage)
		if err != nil {
			return err
		}
		if *version == "" || *file == "" {
			return usagef("--version and --file: required\n%s", releaseUsage)
		}
		if *sig == "" {
			*sig = *file + ".minisig"
		}
		s, err := readSmallFile(*sig, 4096)
		if err != nil {
			return fmt.Errorf("--sig: %w", err)
		}
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		defer f.Close()
		r, err := c.AddRelease(ctx, *version, *platform, *mode, *message, s, f)
		if err != nil {
			return err
		}
		if aa.json() {
			return printJSON(env.Stdout, r)
		}
		fmt.Fprintf(env.Stdout, "release %s (%s) added: %d bytes, sha256 %s, mode %s\n", safe(r.Version), safe(r.Platform), r.Size, r.SHA256, r.Mode)
		return nil
	})

	setMode := &cobra.Command{Use: "mode VERSION", Short: "change a release's mode and message"}
	ma := newAPICmd(env, setMode)
	mMode := setMode.Flags().String("mode", "", "mandatory, optional or refuse (required)")
	mMessage := setMode.Flags().String("message", "", "the administrator's message")
	mPlatform := setMode.Flags().String("platform", "linux/amd64", "GOOS/GOARCH")
	setMode.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ma.connect(pos, 1, releaseUsage)
		if err != nil {
			return err
		}
		if err := rollout.ValidMode(*mMode); err != nil {
			return usagef("--mode: %v", err)
		}
		return c.SetReleaseMode(ctx, pos[0], console.ModeRequest{Platform: *mPlatform, Mode: *mMode, Message: *mMessage})
	})

	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the releases, newest first", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := la.connect(pos, 0, releaseUsage)
		if err != nil {
			return err
		}
		rs, err := c.Releases(ctx)
		if err != nil {
			return err
		}
		if la.json() {
			if rs == nil {
				rs = []rollout.Release{}
			}
			return printJSON(env.Stdout, rs)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "VERSION\tPLATFORM\tMODE\tSIZE\tSHA256\tADDED\tBY\tMESSAGE")
		for _, r := range rs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", safe(r.Version), safe(r.Platform), r.Mode, r.Size, r.SHA256[:12],
				fmtTime(r.AddedAt), safe(r.AddedBy), dash(safe(r.Message)))
		}
		return tw.Flush()
	})
	return group("release", "agent releases: add, mode, list", "", add, setMode, list)
}

const rolloutUsage = `usage:
  unyo rollout start --release V [--canary N] [--wave N] [--max-concurrent 15] [--continue-on-failure] [--full] [--agents a,b]
  unyo rollout status [ID] [--watch]
  unyo rollout pause|resume [ID]`

func rolloutCmd(env *Env) *cobra.Command {
	start := &cobra.Command{Use: "start", Short: "start a rollout of a release to the agents", ValidArgsFunction: noArgs}
	sa := newAPICmd(env, start)
	release := start.Flags().String("release", "", "the release's version (required)")
	platform := start.Flags().String("platform", "linux/amd64", "GOOS/GOARCH")
	canary := start.Flags().Int("canary", 0, "agents updated first, alone")
	wave := start.Flags().Int("wave", 0, "agents per wave after the canaries (0: all the rest)")
	maxc := start.Flags().Int("max-concurrent", 0, "agents updating at once cluster-wide (default releases.max_concurrent, 15)")
	cont := start.Flags().Bool("continue-on-failure", false, "go on after a failed or rolled-back agent (default: halt)")
	agents := start.Flags().String("agents", "", "comma-separated agents (default: every agent known)")
	full := start.Flags().Bool("full", false, "agents download the whole binary (a repair), not only the chunks their running binary lacks")
	watch := start.Flags().Duration("watch", 0, "watch period of a new binary (default releases.watch_period)")
	start.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := sa.connect(pos, 0, rolloutUsage)
		if err != nil {
			return err
		}
		if *release == "" {
			return usagef("--release: required\n%s", rolloutUsage)
		}
		id, err := c.StartRollout(ctx, console.RolloutRequest{Version: *release, Platform: *platform, Canary: *canary,
			Wave: *wave, MaxConcurrent: *maxc, ContinueOnFailure: *cont, Full: *full, Agents: splitList(*agents), Watch: jsondur.Duration(*watch)})
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, id)
		return nil
	})

	status := &cobra.Command{Use: "status [ID]", Short: "a rollout's agents, states, progress and log (default: the live or last one)"}
	sta := newAPICmd(env, status)
	follow := status.Flags().Bool("watch", false, "print again every 2s until the rollout ends")
	status.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 1 {
			return usagef("%s", rolloutUsage)
		}
		id := "current"
		if len(pos) == 1 {
			id = pos[0]
		}
		c, err := sta.connect(nil, 0, rolloutUsage)
		if err != nil {
			return err
		}
		for {
			st, err := c.Rollout(ctx, id)
			if err != nil {
				return err
			}
			if sta.json() {
				if err := printJSON(env.Stdout, st); err != nil {
					return err
				}
			} else {
				printRollout(env, st)
			}
			if !*follow || st.Status == rollout.StatusDone {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
	})
	var ctl []*cobra.Command
	for _, verb := range []string{"pause", "resume"} {
		cmd := &cobra.Command{Use: verb + " [ID]", Short: verb + " a rollout (default: the live one)"}
		ca := newAPICmd(env, cmd)
		cmd.RunE = run(func(ctx context.Context, pos []string) error {
			if len(pos) > 1 {
				return usagef("%s", rolloutUsage)
			}
			id := "current"
			if len(pos) == 1 {
				id = pos[0]
			}
			c, err := ca.connect(nil, 0, rolloutUsage)
			if err != nil {
				return err
			}
			return c.ControlRollout(ctx, id, verb)
		})
		ctl = append(ctl, cmd)
	}
	return group("rollout", "roll a release out to the agents: start, status, pause, resume", "", append([]*cobra.Command{start, status}, ctl...)...)
}

func printRollout(env *Env, st console.RolloutStatus) {
	fmt.Fprintf(env.Stdout, "rollout %s of %s (%s): %s, started %s by %s; %d updating now (at most %d)\n",
		safe(st.ID), safe(st.Version), safe(st.Platform), st.Status, fmtTime(st.StartedAt), safe(st.By), st.Updating, st.MaxConcurrent)
	var counts []string
	for _, s := range []string{rollout.StateQueued, rollout.StateDownloading, rollout.StateVerifying, rollout.StateSwapped,
		rollout.StateWatching, rollout.StateDone, rollout.StateRolledBack, rollout.StateFailed} {
		if n := st.Counts[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%s %d", s, n))
		}
	}
	fmt.Fprintln(env.Stdout, strings.Join(counts, ", "))
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "AGENT\tSTATE\tPROGRESS\tFROM\tTO\tLEVEL\tSINCE\tERROR")
	for _, a := range st.Agents {
		fmt.Fprintf(tw, "%s\t%s\t%d%%\t%s\t%s\t%s\t%s\t%s\n", safe(a.Agent), a.State, a.Progress, dash(safe(a.From)), safe(a.To),
			a.Level, fmtTime(a.Since), dash(safe(a.Err)))
	}
	_ = tw.Flush()
	for _, l := range st.Log[max(0, len(st.Log)-20):] {
		fmt.Fprintf(env.Stdout, "%s %-7s %s %s\n", fmtTime(l.At), l.Level, dash(safe(l.Agent)), safe(l.Msg))
	}
}

const agentsMoveUsage = `usage:
  unyo agents move --to NATS_URL --trust-key FILE (--group G | --all)
  unyo agents not-moved`

// agentsFleetCmds are the re-homing commands of `unyo agents`.
func agentsFleetCmds(env *Env) []*cobra.Command {
	move := &cobra.Command{Use: "move", Short: "move agents to a new cluster (each confirms there before it leaves)", ValidArgsFunction: noArgs}
	ma := newAPICmd(env, move)
	to := move.Flags().String("to", "", "the new cluster's NATS URL(s) (required)")
	trust := move.Flags().String("trust-key", "", "the new cluster's public task-signing key file(s), comma-separated (required)")
	grp := move.Flags().String("group", "", "move the agents of this group: enrolled agents of this enrolment group, configured agents with this tag")
	all := move.Flags().Bool("all", false, "move every agent (configured, enrolled, or heard from)")
	move.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ma.connect(pos, 0, agentsMoveUsage)
		if err != nil {
			return err
		}
		if *to == "" || *trust == "" || (*grp == "") == !*all {
			return usagef("--to, --trust-key and one of --group or --all: required\n%s", agentsMoveUsage)
		}
		var keys strings.Builder
		for _, f := range splitList(*trust) {
			b, err := readSmallFile(f, 64<<10)
			if err != nil {
				return fmt.Errorf("--trust-key: %w", err)
			}
			keys.Write(b)
		}
		agents, err := c.MoveAgents(ctx, console.MoveRequest{To: *to, TrustKeys: keys.String(), Group: *grp, All: *all})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%d agents ordered to move to %s: %s\n", len(agents), safe(*to), safe(strings.Join(agents, ", ")))
		return nil
	})
	nm := &cobra.Command{Use: "not-moved", Short: "the agents still on this cluster, with last seen and why", ValidArgsFunction: noArgs}
	na := newAPICmd(env, nm)
	nm.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := na.connect(pos, 0, agentsMoveUsage)
		if err != nil {
			return err
		}
		left, err := c.NotMoved(ctx)
		if err != nil {
			return err
		}
		if na.json() {
			if left == nil {
				left = []rollout.NotMoved{}
			}
			return printJSON(env.Stdout, left)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "AGENT\tLAST SEEN\tREASON")
		for _, l := range left {
			seen := "-"
			if !l.LastSeen.IsZero() {
				seen = fmtTime(l.LastSeen)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(l.Agent), seen, safe(l.Reason))
		}
		return tw.Flush()
	})
	return []*cobra.Command{move, nm}
}

// clusterDecommissionCmd retires the cluster once its agents have moved.
func clusterDecommissionCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "decommission", Short: "retire this cluster (refused while agents have not moved, unless --waiver)", ValidArgsFunction: noArgs}
	ca := newAPICmd(env, cmd)
	waiver := cmd.Flags().String("waiver", "", "the reason to decommission with agents not moved (audited)")
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ca.connect(pos, 0, "usage: unyo cluster decommission [--waiver REASON]")
		if err != nil {
			return err
		}
		res, err := c.Decommission(ctx, *waiver)
		if err != nil {
			if len(res.NotMoved) > 0 {
				fmt.Fprintf(env.Stderr, "%d agents have not moved:\n", len(res.NotMoved))
				for _, l := range res.NotMoved {
					fmt.Fprintf(env.Stderr, "  %s: %s\n", safe(l.Agent), safe(l.Reason))
				}
			}
			return err
		}
		fmt.Fprintf(env.Stdout, "cluster decommissioned (%d agents not moved)\n", len(res.NotMoved))
		return nil
	})
	return cmd
}

func readSmallFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return os.ReadFile(path)
}
