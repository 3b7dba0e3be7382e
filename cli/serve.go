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

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/node"
)

func runServe(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "serve")
	path := fs.String("config", "", "configuration file (default: built-in defaults)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unyo serve: unexpected argument %q", pos[0])
	}
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

func runConfig(ctx context.Context, env *Env, args []string) error {
	if len(args) > 0 && args[0] == "apply" {
		return configApply(ctx, env, args[1:])
	}
	if len(args) == 0 || args[0] != "check" {
		return usagef("%s", configUsage)
	}
	fs := flags(env, "config check")
	show := fs.Bool("print", false, "print the effective configuration (secrets masked)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: unyo config check FILE")
	}
	cfg, err := configs.Load(pos[0])
	if err != nil {
		return err
	}
	if *show {
		fmt.Fprint(env.Stdout, cfg.String())
	}
	fmt.Fprintf(env.Stdout, "%s: ok (sha256 %s)\n", pos[0], cfg.Hash)
	return nil
}

func runVersion(ctx context.Context, env *Env, args []string) error {
	fmt.Fprintln(env.Stdout, "unyo", node.Version)
	return nil
}

func configApply(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "config apply")
	server := serverFlag(fs, env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
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
	c, err := newClient(env, *server)
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
