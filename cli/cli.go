package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/client"
)

// Env is what a command sees of the outside world.
type Env struct {
	Stdin          io.Reader // nil: no input
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// command is one subcommand; run gets the arguments after its name.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// errUsage marks an error whose message is already the usage text.
var errUsage = errors.New("usage")

// commands is the tree of subcommands, kept explicit.
func commands() map[string]command {
	return map[string]command{
		"serve":    {"run a node", runServe},
		"incident": {"list, show, ack, resolve, close, comment on incidents", runIncident},
		"event":    {"send an event", runEvent},
		"config":   {"check a configuration file", runConfig},
		"version":  {"print the version", runVersion},
		"agent":    {"run jobs on this server for the job network", runAgent},
		// Alerting (cli/maintenance.go, cli/oncall.go, cli/ledger.go).
		"maintenance": {"add, list, end maintenance windows", runMaintenance},
		"oncall":      {"who each role reaches now", runOnCall},
		"ledger":      {"export the fault ledger as CSV", runLedger},
		"report":      {"availability against the budget; monthly performance reports", runReport}, // cli/report.go
		"target":      {"list monitored targets, show one's recent results", runTarget},            // cli/target.go
		"metrics":     {"a target's samples and rollups", runMetrics},                              // cli/metrics.go
		"cluster":     {"Raft membership: status, join, leave, transfer-leadership", runCluster},   // cli/cluster.go
		"jobnet":      {"list and show jobnets, start a run", runJobnet},                           // cli/jobnet.go
		// Identities (cli/auth.go).
		"login":  {"log in to a node and keep the session token for the CLI", runLogin},
		"logout": {"end the session and forget its token", runLogout},
		"whoami": {"show who the CLI acts as", runWhoAmI},
		"who":    {"who else is logged in", runWho},
		"user":   {"add, list, passwd, disable, enable, role: users (admin)", runUser},
		"token":  {"create, list, revoke API tokens", runToken},
		"audit":  {"list and verify the audit log", runAudit},
		"run":    {"list and show jobnet runs; hold, release, skip, kill, rerun", runRun}, // cli/run.go
	}
}

// Main runs the command line and returns the process exit code: 0 on
// success, 1 on failure, 2 on bad usage.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(env.Stderr, "unyo: unknown command %q\n", args[0])
		usage(env.Stderr, cmds)
		return 2
	}
	if err := c.run(ctx, env, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errUsage) {
			fmt.Fprintln(env.Stderr, safeLines(strings.TrimSuffix(err.Error(), ": "+errUsage.Error())))
			return 2
		}
		fmt.Fprintf(env.Stderr, "unyo %s: %s\n", args[0], safeLines(err.Error()))
		var ce *client.Error
		if errors.As(err, &ce) && ce.Status == 401 {
			fmt.Fprintln(env.Stderr, "hint: unyo login --user NAME, or export UNYO_TOKEN_FILE=<node data_dir>/admin.token on the node's first start")
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: unyo COMMAND [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'unyo COMMAND -h' for a command's flags.")
}

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errUsage)...)
}

// flags makes a FlagSet that writes to stderr and returns errors.
func flags(env *Env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("unyo "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parse parses flags allowing them before and after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%v: %w", err, errUsage)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// endpoint is the node a command talks to: --server and the TLS files of
// an https:// server.
type endpoint struct {
	url string
	tls client.TLSFiles
}

// serverFlag adds --server, --ca-file, --client-cert and --client-key to
// fs. Dereference the result after parsing.
func serverFlag(fs *flag.FlagSet, env *Env) *endpoint {
	def := env.Getenv("UNYO_SERVER")
	if def == "" {
		def = client.DefaultServer
	}
	e := &endpoint{}
	fs.StringVar(&e.url, "server", def, "node API URL, http:// or https:// (env UNYO_SERVER)")
	fs.StringVar(&e.tls.CAFile, "ca-file", env.Getenv("UNYO_CA_FILE"), "PEM CA bundle that signed the node's certificate (env UNYO_CA_FILE; default: the system's roots)")
	fs.StringVar(&e.tls.CertFile, "client-cert", env.Getenv("UNYO_CLIENT_CERT"), "PEM client certificate, for a node that asks for one (env UNYO_CLIENT_CERT)")
	fs.StringVar(&e.tls.KeyFile, "client-key", env.Getenv("UNYO_CLIENT_KEY"), "PEM key of --client-cert (env UNYO_CLIENT_KEY)")
	return e
}

// newClient returns a client for the node at e (its TLS files for
// https://) with the token the CLI finds for it (credentials.go).
func newClient(env *Env, e endpoint) (*client.Client, error) {
	if _, err := client.New(e.url); err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	tok, err := findToken(env, e.url)
	if err != nil {
		return nil, err
	}
	c, err := client.NewTLS(e.url, e.tls, client.WithToken(tok))
	if err != nil {
		return nil, fmt.Errorf("--ca-file, --client-cert, --client-key: %w", err)
	}
	return c, nil
}

// httpClient is a client for the calls made without package client.
func (e endpoint) httpClient() (*http.Client, error) {
	hc, err := client.HTTPClient(e.tls, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("--ca-file, --client-cert, --client-key: %w", err)
	}
	return hc, nil
}

// apiCmd is a command that talks to a node's API: its flags always include
// --server and -o. A command adds its own flags to fs, then calls connect.
type apiCmd struct {
	env    *Env
	fs     *flag.FlagSet
	server *endpoint
	out    *string
}

func newAPICmd(env *Env, name string) *apiCmd {
	fs := flags(env, name)
	return &apiCmd{env: env, fs: fs, server: serverFlag(fs, env), out: outputFlag(fs)}
}

// connect parses args (flags before or after the positional ones),
// requires exactly nargs positional arguments (else the usage text),
// checks -o, and returns the positional arguments and a client.
func (a *apiCmd) connect(args []string, nargs int, usage string) ([]string, *client.Client, error) {
	pos, err := parse(a.fs, args)
	if err != nil {
		return nil, nil, err
	}
	if len(pos) != nargs {
		if nargs == 0 {
			return nil, nil, usagef("unexpected argument %q\n%s", pos[0], usage)
		}
		return nil, nil, usagef("%s", usage)
	}
	if err := checkOutput(*a.out); err != nil {
		return nil, nil, err
	}
	c, err := newClient(a.env, *a.server)
	return pos, c, err
}

// json reports whether -o json was asked for.
func (a *apiCmd) json() bool { return *a.out == "json" }
