package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/node"
)

// Env is what a command sees of the outside world.
type Env struct {
	Stdin          io.Reader // nil: no input
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// errUsage marks an error whose message is already the usage text.
var errUsage = errors.New("usage")

// runError is an error returned by a command's own work, as opposed to
// one of the command line itself (an unknown command or flag).
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// run adapts the body of a command to cobra: it gets the context and the
// positional arguments, and its errors are marked as the command's own.
func run(body func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		if err := body(c.Context(), args); err != nil {
			return &runError{err}
		}
		return nil
	}
}

// newRoot is the tree of commands, built for one run of Main: the flags'
// defaults come from env.
func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "unyo",
		Short: "unyo runs a monitoring, alerting and job-scheduling node, and is its operator's command line",
		Long: `unyo runs a node (unyo serve) and talks to a node's API (every other command).

The token a command uses is, first found: $UNYO_TOKEN; the file named by
$UNYO_TOKEN_FILE; the credentials file written by 'unyo login'. A token is
never given as a flag.`,
		Version:               node.Version,
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagsInUseLine: false,
		RunE: func(c *cobra.Command, args []string) error {
			return usagef("%s", groupUsage(c))
		},
	}
	root.SetVersionTemplate("unyo {{.Version}}\n")
	root.SetUsageTemplate(usageTemplate)
	root.Annotations = map[string]string{"group": "true"}
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v\nRun '%s --help' for its flags.", err, c.CommandPath())
	})
	root.AddCommand(
		serveCmd(env), configCmd(env), versionCmd(env), agentCmd(env), agentsCmd(env),
		incidentCmd(env), eventCmd(env), targetCmd(env), metricsCmd(env), maintenanceCmd(env), oncallCmd(env),
		ledgerCmd(env), reportCmd(env), runbookCmd(env), clusterCmd(env), jobnetCmd(env), runCmd(env),
		loginCmd(env), logoutCmd(env), whoamiCmd(env), whoCmd(env), userCmd(env), tokenCmd(env), auditCmd(env),
		backupCmd(env), restoreCmd(env),
		releaseCmd(env), rolloutCmd(env), drillCmd(env), passwordCmd(env),
	)
	return root
}

// group is a command that only holds subcommands: run alone it prints
// their list (exit 2), and an unknown subcommand is named.
func group(use, short, long string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{Use: use, Short: short, Long: long, Annotations: map[string]string{"group": "true"}}
	g.RunE = func(c *cobra.Command, args []string) error {
		cmd, ok := groupArgs(c, args)
		if !ok {
			return nil // --help
		}
		if cmd == "" {
			return usagef("%s", groupUsage(c))
		}
		return usagef("unknown %s command %q\n%s", c.Name(), cmd, groupUsage(c))
	}
	// A group has no flags of its own: what it gets is parsed here, so that
	// a flag before a wrong or missing subcommand does not hide it.
	g.DisableFlagParsing = true
	g.AddCommand(subs...)
	return g
}

// groupArgs looks at the arguments a group got instead of a known
// subcommand: it prints the help and returns false for -h or --help, and
// otherwise returns the first argument that is not a flag ("" for none).
func groupArgs(c *cobra.Command, args []string) (string, bool) {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			_ = c.Help()
			return "", false
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case !strings.HasPrefix(a, "-"):
			return a, true
		case !strings.Contains(a, "="):
			i++ // perhaps the flag's value
		}
	}
	return "", true
}

// groupUsage lists the subcommands of c as one line each.
func groupUsage(c *cobra.Command) string {
	var b strings.Builder
	b.WriteString("usage:\n")
	w := 0
	var lines [][2]string
	for _, s := range c.Commands() {
		if !s.IsAvailableCommand() {
			continue
		}
		l := s.CommandPath()
		if _, rest, ok := strings.Cut(s.Use, " "); ok {
			l += " " + rest
		}
		w = max(w, len(l))
		lines = append(lines, [2]string{l, s.Short})
	}
	for _, l := range lines {
		fmt.Fprintf(&b, "  %-*s  %s\n", w, l[0], l[1])
	}
	fmt.Fprintf(&b, "Run '%s COMMAND --help' for a command's flags.", c.CommandPath())
	return b.String()
}

// Main runs the command line and returns the process exit code: 0 on
// success, 1 on failure, 2 on bad usage.
func Main(ctx context.Context, args []string, env *Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	root := newRoot(env)
	root.SetArgs(normalizeArgs(root, append([]string{}, args...)))
	c, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var re *runError
	if !errors.As(err, &re) || errors.Is(err, errUsage) {
		// The command line itself: an unknown command or flag, a missing
		// argument, a value the command refused before doing anything.
		msg := strings.TrimSuffix(err.Error(), ": "+errUsage.Error())
		if strings.HasPrefix(msg, "unknown command ") {
			msg += "\nRun 'unyo --help' for the commands."
		}
		fmt.Fprintln(env.Stderr, safeLines(msg))
		return 2
	}
	fmt.Fprintf(env.Stderr, "%s: %s\n", c.CommandPath(), safeLines(err.Error()))
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status == 401 {
		fmt.Fprintln(env.Stderr, "hint: unyo login --user NAME, or export UNYO_TOKEN_FILE=<node data_dir>/admin.token on the node's first start")
	}
	return 1
}

// normalizeArgs keeps the flag spellings the standard flag package read:
// a long flag with one dash (-config FILE, -print) gets its second dash,
// and a one-letter flag with two (--o json) loses one. Only the flags of
// the command the arguments name are rewritten, and never a flag's value
// or anything after "--".
func normalizeArgs(root *cobra.Command, args []string) []string {
	c, _, err := root.Find(args)
	if err != nil || c == nil {
		return args
	}
	fs := pflag.NewFlagSet("", pflag.ContinueOnError)
	fs.AddFlagSet(c.Flags())
	fs.AddFlagSet(c.InheritedFlags())
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		dashes := len(a) - len(strings.TrimLeft(a, "-"))
		var f *pflag.Flag
		switch {
		case dashes == 1 && name == "help":
			args[i] = "-" + a
		case dashes == 1 && len(name) > 1:
			if f = fs.Lookup(name); f != nil {
				args[i] = "-" + a
			}
		case dashes == 2 && len(name) == 1:
			if f = fs.ShorthandLookup(name); f != nil {
				args[i] = a[1:]
			}
		case dashes == 2:
			f = fs.Lookup(name)
		case dashes == 1 && len(name) == 1:
			f = fs.ShorthandLookup(name)
		}
		if f != nil && !hasValue && f.NoOptDefVal == "" {
			i++ // the flag's value, whatever it looks like
		}
	}
	return args
}

// usageTemplate is cobra's, but a group (a command that only holds
// subcommands, runnable only to name a wrong one) shows no usage line of
// its own: "unyo incident [command]", not "unyo incident [flags]".
const usageTemplate = `Usage:{{if and .Runnable (ne .Annotations.group "true")}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} [command]{{end}}{{if gt (len .Aliases) 0}}

Aliases:
  {{.NameAndAliases}}{{end}}{{if .HasExample}}

Examples:
{{.Example}}{{end}}{{if .HasAvailableSubCommands}}

Available Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}

Flags:
{{.LocalFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableInheritedFlags}}

Global Flags:
{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}{{if .HasAvailableSubCommands}}

Use "{{.CommandPath}} [command] --help" for more information about a command.{{end}}
`

// usagef returns a usage error.
func usagef(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errUsage)...)
}

// endpoint is the node a command talks to: --server and the TLS files of
// an https:// server.
type endpoint struct {
	url string
	tls client.TLSFiles
}

// serverFlag adds --server, --ca-file, --client-cert and --client-key to
// fs. Dereference the result after parsing.
func serverFlag(fs *pflag.FlagSet, env *Env) *endpoint {
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

// apiCmd is the part of a command that talks to a node's API: --server
// (with its TLS files) and -o.
type apiCmd struct {
	env    *Env
	fs     *pflag.FlagSet
	server *endpoint
	out    *string
}

// newAPICmd adds --server, its TLS flags and -o to c.
func newAPICmd(env *Env, c *cobra.Command) *apiCmd {
	fs := c.Flags()
	a := &apiCmd{env: env, fs: fs, server: serverFlag(fs, env), out: outputFlag(c)}
	return a
}

// connect requires exactly nargs positional arguments (else the usage
// text), checks -o, and returns a client.
func (a *apiCmd) connect(pos []string, nargs int, usage string) (*client.Client, error) {
	if len(pos) != nargs {
		if nargs == 0 {
			return nil, usagef("unexpected argument %q\n%s", pos[0], usage)
		}
		return nil, usagef("%s", usage)
	}
	if err := checkOutput(*a.out); err != nil {
		return nil, err
	}
	return newClient(a.env, *a.server)
}

// json reports whether -o json was asked for.
func (a *apiCmd) json() bool { return *a.out == "json" }

// outputFlag adds -o (--output) to c.
func outputFlag(c *cobra.Command) *string {
	o := c.Flags().StringP("output", "o", "table", "output format: table or json")
	_ = c.RegisterFlagCompletionFunc("output", completeOutput)
	return o
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("-o %q: want table or json", o)
	}
	return nil
}
