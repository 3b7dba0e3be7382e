package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/jobnet"
)

// runAgent runs jobs on a managed server: unyo agent --name NAME --nats URL.
func runAgent(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "agent")
	name := fs.String("name", "", "agent name, as in run_on.agent (required)")
	url := fs.String("nats", env.Getenv("UNYO_NATS"), "NATS server URL(s), comma-separated (env UNYO_NATS; required)")
	tags := fs.String("tag", "", "comma-separated tags, as in run_on.tag")
	parallel := fs.Int("parallel", 64, "jobs run at the same time at most")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q", pos[0])
	case *name == "":
		return usagef("--name: required")
	case *url == "":
		return usagef("--nats: required")
	case *parallel < 1:
		return usagef("--parallel: want at least 1")
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil)).With("agent", *name)
	nc, err := nats.Connect(*url, nats.Name("unyo-agent-"+*name), nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *url, err)
	}
	defer nc.Close()
	var tagList []string
	for _, t := range strings.Split(*tags, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tagList = append(tagList, t)
		}
	}
	a := &jobnet.Agent{Name: *name, Tags: tagList, NC: nc, Parallel: *parallel, Logger: log}
	return a.Run(ctx)
}
