package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/node"
)

func serveCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "serve", Short: "run a node", ValidArgsFunction: noArgs,
		Long: "Run a node with the configuration file given by --config (default: built-in defaults).\nSIGHUP reloads the file."}
	path := cmd.Flags().String("config", "", "configuration file (default: built-in defaults)")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml")
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("unyo serve: unexpected argument %q", pos[0])
		}
		return runServe(ctx, env, path)
	})
	return cmd
}

func runServe(ctx context.Context, env *Env, path *string) error {
	var err error
	cfg := configs.Default()
	if *path != "" {
		if cfg, err = configs.Load(*path); err != nil {
			return err
		}
	}
	log, err := newLogger(env, cfg.Log)
	if err != nil {
		return err
	}
	// A member starts with the cluster's shared sections it last applied.
	cfg = node.StartupConfig(cfg, log)
	opts, err := node.FromConfig(cfg, log)
	if err != nil {
		return err
	}
	// The first admin's token, when the ledger has none (see node.AuthOptions).
	opts.Auth.BootstrapToken = env.Getenv("UNYO_BOOTSTRAP_TOKEN")
	n, err := node.New(ctx, opts)
	if err != nil {
		return err
	}
	// SIGHUP reloads the configuration file (what can change without a
	// restart; see node.Reload).
	if *path != "" {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					_ = n.ReloadFile(ctx, *path) // logged and counted by the node
				}
			}
		}()
	}
	return n.Run(ctx)
}

func newLogger(env *Env, c configs.LogConfig) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	ho := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(env.Stderr, ho)), nil
	}
	return slog.New(slog.NewTextHandler(env.Stderr, ho)), nil
}

const configUsage = `usage:
  unyo config check FILE [--print]
  unyo config apply FILE [--server URL]   replicate FILE's monitor, alerting and jobnets sections to every member`

func configCmd(env *Env) *cobra.Command {
	check := &cobra.Command{Use: "check FILE", Short: "check a configuration file: every problem, by file, line and field"}
	show := check.Flags().Bool("print", false, "print the effective configuration (secrets masked)")
	check.ValidArgsFunction = yamlFiles
	check.RunE = run(func(ctx context.Context, pos []string) error { return configCheck(env, pos, *show) })
	apply := &cobra.Command{Use: "apply FILE", Short: "replicate FILE's monitor, alerting and jobnets sections to every member"}
	server := serverFlag(apply.Flags(), env)
	apply.ValidArgsFunction = yamlFiles
	apply.RunE = run(func(ctx context.Context, pos []string) error { return configApply(ctx, env, pos, *server) })
	return group("config", "check a configuration file, apply it to the cluster", "", check, apply)
}

// yamlFiles completes a YAML file name.
func yamlFiles(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

func versionCmd(env *Env) *cobra.Command {
	return &cobra.Command{Use: "version", Short: "print the version", ValidArgsFunction: noArgs,
		RunE: run(func(context.Context, []string) error {
			fmt.Fprintln(env.Stdout, "unyo", node.Version)
			return nil
		})}
}

func configCheck(env *Env, pos []string, show bool) error {
	if len(pos) != 1 {
		return usagef("usage: unyo config check FILE")
	}
	cfg, err := configs.Load(pos[0])
	if err != nil {
		return err
	}
	if show {
		fmt.Fprint(env.Stdout, cfg.String())
	}
	fmt.Fprintf(env.Stdout, "%s: ok (sha256 %s)\n", pos[0], cfg.Hash)
	return nil
}

func configApply(ctx context.Context, env *Env, pos []string, server endpoint) error {
	if len(pos) != 1 {
		return usagef("%s", configUsage)
	}
	if _, err := configs.Load(pos[0]); err != nil {
		return err // checked here first: the error names the file and line
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	c, err := newClient(env, server)
	if err != nil {
		return err
	}
	var out node.ConfigApplied
	if err := callRaw(ctx, c, strings.TrimRight(server.url, "/")+node.ConfigPath+"?name="+url.QueryEscape(pos[0]), data, &out); err != nil {
		return err
	}
	fmt.Fprint(env.Stdout, safeLines(applyReport(pos[0], out)))
	if out.NotApplied() {
		return errors.New("not everything in the file is in effect (above)")
	}
	return nil
}

// applyReport says what `config apply` did: the version committed, and
// what the member that took it applied, what waits for a restart, what
// failed.
func applyReport(file string, out node.ConfigApplied) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: committed as cluster config version %d (sha256 %s)\n", file, out.Version, strings.TrimPrefix(out.Hash, "sha256:"))
	on := "on " + out.Node
	if out.Node == "" {
		on = "on the member"
	}
	switch {
	case out.Pending:
		fmt.Fprintf(&b, "not applied yet %s when it answered: see its log (\"shared config applied\")\n", on)
	case out.Unchanged:
		fmt.Fprintf(&b, "unchanged %s: its monitor, alerting and jobnets sections are what it runs\n", on)
	default:
		if len(out.Applied) > 0 {
			fmt.Fprintf(&b, "applied %s: %s\n", on, strings.Join(out.Applied, ", "))
		}
		if len(out.Restart) > 0 {
			fmt.Fprintf(&b, "NOT applied %s, needs a restart: %s\n", on, strings.Join(out.Restart, ", "))
		}
		for _, f := range out.Failed {
			fmt.Fprintf(&b, "FAILED %s: %s\n", on, f)
		}
		if len(out.Applied)+len(out.Restart)+len(out.Failed) == 0 {
			fmt.Fprintf(&b, "applied %s: nothing it runs changed\n", on)
		}
	}
	return b.String()
}
