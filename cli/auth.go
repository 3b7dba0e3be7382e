package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
)

const loginUsage = `usage:
  unyo login [--user NAME] [--password-stdin]   log in; the session token is kept for this --server
  unyo login --token-file FILE                  keep an existing token (e.g. a node's data/…/admin.token)`

func loginCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "login", Short: "log in to a node and keep the session token for the CLI", ValidArgsFunction: noArgs,
		Long: "Log in with a password; the session token is kept for this --server in the credentials file\n" +
			"($UNYO_CREDENTIALS, or $XDG_CONFIG_HOME/unyo/credentials.json, or ~/.config/unyo/credentials.json).\n" +
			"--token-file keeps an existing token instead (e.g. a node's data/…/admin.token)."}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	user := fs.String("user", env.Getenv("USER"), "user name (default $USER)")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	tokenFile := fs.String("token-file", "", "keep the token in FILE instead of logging in with a password")
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		return runLogin(ctx, env, pos, server, user, stdin, tokenFile)
	})
	return cmd
}

// runLogin logs in and stores the token in the credentials file.
func runLogin(ctx context.Context, env *Env, pos []string, server *endpoint, user *string, stdin *bool, tokenFile *string) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q\n%s", pos[0], loginUsage)
	}
	var tok, name string
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
		c, err := client.NewTLS(server.url, server.tls, client.WithToken(tok))
		if err != nil {
			return fmt.Errorf("--server: %w", err)
		}
		id, err := c.WhoAmI(ctx)
		if err != nil {
			return err
		}
		name = id.Name
	} else {
		if *user == "" {
			return usagef("--user: required\n%s", loginUsage)
		}
		pw, err := readPassword(env, *stdin, "Password for "+*user+": ")
		if err != nil {
			return err
		}
		c, err := client.NewTLS(server.url, server.tls)
		if err != nil {
			return fmt.Errorf("--server: %w", err)
		}
		r, err := c.Login(ctx, *user, pw)
		if err != nil {
			return err
		}
		tok, name = r.Token, r.User
		defer fmt.Fprintf(env.Stdout, "logged in to %s as %s (%s) until %s\n", server.url, safe(r.User), r.Role, fmtTime(r.Expires))
	}
	creds, path, err := readCredentials(env)
	if err != nil {
		return err
	}
	creds.Servers[serverKey(server.url)] = credential{Token: tok, User: name}
	if err := writeCredentials(path, creds); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if *tokenFile != "" {
		fmt.Fprintf(env.Stdout, "token of %s kept for %s in %s\n", name, server.url, path)
	}
	return nil
}

func logoutCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "logout", Short: "end the session and forget its token", ValidArgsFunction: noArgs}
	server := serverFlag(cmd.Flags(), env)
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("unexpected argument %q\nusage: unyo logout [--server URL]", pos[0])
		}
		return runLogout(ctx, env, server)
	})
	return cmd
}

// runLogout ends the session and drops the stored token.
func runLogout(ctx context.Context, env *Env, server *endpoint) error {
	creds, path, err := readCredentials(env)
	if err != nil {
		return err
	}
	cr, ok := creds.Servers[serverKey(server.url)]
	if !ok {
		return fmt.Errorf("not logged in to %s", server.url)
	}
	c, err := client.NewTLS(server.url, server.tls, client.WithToken(cr.Token))
	if err != nil {
		return fmt.Errorf("--server: %w", err)
	}
	var ae *client.Error
	if err := c.Logout(ctx); err != nil && !(errors.As(err, &ae) && (ae.Status == 400 || ae.Status == 401)) {
		return err
	}
	delete(creds.Servers, serverKey(server.url))
	if err := writeCredentials(path, creds); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "logged out of %s\n", server.url)
	return nil
}

func whoamiCmd(env *Env) *cobra.Command {
	c := &cobra.Command{Use: "whoami", Short: "show who the CLI acts as", ValidArgsFunction: noArgs}
	a := newAPICmd(env, c)
	c.RunE = run(func(ctx context.Context, pos []string) error { return runWhoAmI(ctx, env, a, pos) })
	return c
}

func whoCmd(env *Env) *cobra.Command {
	c := &cobra.Command{Use: "who", Short: "who else is logged in", ValidArgsFunction: noArgs}
	a := newAPICmd(env, c)
	c.RunE = run(func(ctx context.Context, pos []string) error { return runWho(ctx, env, a, pos) })
	return c
}

func runWhoAmI(ctx context.Context, env *Env, cmd *apiCmd, args []string) error {
	c, err := cmd.connect(args, 0, "usage: unyo whoami [-o table|json]")
	if err != nil {
		return err
	}
	id, err := c.WhoAmI(ctx)
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, id)
	}
	fmt.Fprintf(env.Stdout, "%s (%s) by %s %s from %s\n", safe(id.Actor()), id.Role, id.Kind, safe(id.TokenID), safe(id.From))
	return nil
}

func runWho(ctx context.Context, env *Env, cmd *apiCmd, args []string) error {
	c, err := cmd.connect(args, 0, "usage: unyo who [-o table|json]")
	if err != nil {
		return err
	}
	ss, err := c.Sessions(ctx)
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, ss)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "USER\tROLE\tKIND\tFROM\tLAST USED\tSINCE")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(s.User), s.Role, s.Kind, safe(s.From),
			fmtTime(s.LastUsed), fmtTime(s.Since))
	}
	return tw.Flush()
}

const userUsage = `usage:
  unyo user list
  unyo user add NAME --role ROLE [--password-stdin | --no-password]
  unyo user passwd [NAME] [--password-stdin]    your own password (asks the current one), or NAME's (admin)
  unyo user disable NAME | unyo user enable NAME
  unyo user role NAME ROLE
roles: viewer, operator, ops-se, site-manager, admin`

func userCmd(env *Env) *cobra.Command {
	sub := func(verb, use, short string, nargs int) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, ValidArgsFunction: noArgs}
		a := newAPICmd(env, c)
		var role *string
		var stdin, noPassword *bool
		switch verb {
		case "add":
			role = c.Flags().String("role", "", "the user's role: viewer, operator, ops-se, site-manager, admin")
			noPassword = c.Flags().Bool("no-password", false, "no password (tokens only)")
			_ = c.RegisterFlagCompletionFunc("role", completeRoles)
		case "role":
			c.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
				if len(args) == 1 {
					return completeRoles(nil, nil, "")
				}
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
		}
		if verb == "add" || verb == "passwd" {
			stdin = c.Flags().Bool("password-stdin", false, "read the password from the first line of standard input")
		}
		c.RunE = run(func(ctx context.Context, pos []string) error {
			return runUser(ctx, env, a, verb, nargs, pos, role, stdin, noPassword)
		})
		return c
	}
	return group("user", "add, list, passwd, disable, enable, role: users (admin)",
		"roles: viewer, operator, ops-se, site-manager, admin",
		sub("list", "list", "the users, their role and status", 0),
		sub("add", "add NAME", "add a user (--role ROLE, --password-stdin or --no-password)", 1),
		sub("passwd", "passwd [NAME]", "your own password (asks the current one), or NAME's (admin)", -1),
		sub("disable", "disable NAME", "disable a user: their sessions and tokens stop working", 1),
		sub("enable", "enable NAME", "enable a disabled user", 1),
		sub("role", "role NAME ROLE", "change a user's role", 2),
	)
}

// completeRoles completes a role name.
var completeRoles = cobra.FixedCompletions([]string{"viewer", "operator", "ops-se", "site-manager", "admin"}, cobra.ShellCompDirectiveNoFileComp)

func runUser(ctx context.Context, env *Env, cmd *apiCmd, verb string, nargs int, pos []string, role *string, stdin, noPassword *bool) error {
	var c *client.Client
	var err error
	if verb == "passwd" {
		if len(pos) > 1 {
			return usagef("%s", userUsage)
		}
		if c, err = newClient(env, *cmd.server); err != nil {
			return err
		}
	} else if c, err = cmd.connect(pos, nargs, userUsage); err != nil {
		return err
	}
	switch verb {
	case "list":
		us, err := c.Users(ctx)
		if err != nil {
			return err
		}
		if cmd.json() {
			return printJSON(env.Stdout, us)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tSOURCE\tCREATED")
		for _, u := range us {
			st := "enabled"
			if u.Disabled {
				st = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(u.Name), u.Role, st, safe(u.Source), fmtTime(u.Created))
		}
		return tw.Flush()
	case "add":
		if _, err := auth.ParseRole(*role); err != nil {
			return usagef("--role: %v", err)
		}
		pw := ""
		if !*noPassword {
			if pw, err = readNewPassword(env, *stdin); err != nil {
				return err
			}
		}
		u, err := c.AddUser(ctx, console.UserRequest{Name: pos[0], Role: auth.Role(*role), Password: pw})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %s added (%s)\n", u.Name, u.Role)
	case "disable", "enable":
		d := verb == "disable"
		if _, err := c.ChangeUser(ctx, pos[0], console.UserChangeRequest{Disabled: &d}); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %s %sd\n", pos[0], verb)
	case "role":
		r, err := auth.ParseRole(pos[1])
		if err != nil {
			return usagef("%v", err)
		}
		if _, err := c.ChangeUser(ctx, pos[0], console.UserChangeRequest{Role: &r}); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "user %s is now %s\n", pos[0], r)
	case "passwd":
		if len(pos) == 1 {
			pw, err := readNewPassword(env, *stdin)
			if err != nil {
				return err
			}
			if _, err := c.ChangeUser(ctx, pos[0], console.UserChangeRequest{Password: &pw}); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "password of %s set\n", pos[0])
			return nil
		}
		old, err := readPassword(env, *stdin, "Current password: ")
		if err != nil {
			return err
		}
		pw, err := readNewPassword(env, *stdin)
		if err != nil {
			return err
		}
		if err := c.ChangePassword(ctx, old, pw); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, "password changed")
	}
	return nil
}

const tokenUsage = `usage:
  unyo token create --name NAME [--role ROLE] [--ttl 720h] [--owner USER]   the secret is printed once
  unyo token list [--all]
  unyo token revoke ID`

func tokenCmd(env *Env) *cobra.Command {
	create := &cobra.Command{Use: "create", Short: "make an API token; the secret is printed once", ValidArgsFunction: noArgs}
	ca := newAPICmd(env, create)
	name := create.Flags().String("name", "", "what the token is for (required)")
	role := create.Flags().String("role", "", "its role, at most the owner's (default the owner's)")
	ttl := create.Flags().Duration("ttl", 90*24*time.Hour, "how long it lives (0: no expiry)")
	owner := create.Flags().String("owner", "", "the owner (admin; default you)")
	_ = create.RegisterFlagCompletionFunc("role", completeRoles)
	create.RunE = run(func(ctx context.Context, pos []string) error {
		return runToken(ctx, env, ca, "create", pos, name, role, ttl, owner, nil)
	})
	list := &cobra.Command{Use: "list", Short: "your API tokens and sessions (--all: everyone's)", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	all := list.Flags().Bool("all", false, "everyone's tokens (admin)")
	list.RunE = run(func(ctx context.Context, pos []string) error {
		return runToken(ctx, env, la, "list", pos, nil, nil, nil, nil, all)
	})
	revoke := &cobra.Command{Use: "revoke ID", Short: "revoke a token or session", ValidArgsFunction: noArgs}
	ra := newAPICmd(env, revoke)
	revoke.RunE = run(func(ctx context.Context, pos []string) error {
		return runToken(ctx, env, ra, "revoke", pos, nil, nil, nil, nil, nil)
	})
	return group("token", "create, list, revoke API tokens", "", create, list, revoke)
}

func runToken(ctx context.Context, env *Env, cmd *apiCmd, verb string, pos []string, name, role *string, ttl *time.Duration, owner *string, all *bool) error {
	nargs := map[string]int{"create": 0, "list": 0, "revoke": 1}[verb]
	c, err := cmd.connect(pos, nargs, tokenUsage)
	if err != nil {
		return err
	}
	switch verb {
	case "create":
		if *name == "" {
			return usagef("--name: required\n%s", tokenUsage)
		}
		r, err := c.CreateToken(ctx, console.TokenRequest{Name: *name, Role: auth.Role(*role), TTL: ttl.String(), Owner: *owner})
		if err != nil {
			return err
		}
		if cmd.json() {
			return printJSON(env.Stdout, r)
		}
		exp := "never"
		if !r.Token.Expires.IsZero() {
			exp = fmtTime(r.Token.Expires)
		}
		fmt.Fprintf(env.Stderr, "token %s for %s (%s), expires %s; the secret below is shown only now:\n", safe(r.Token.ID), safe(r.Token.Owner), r.Token.Role, exp)
		fmt.Fprintln(env.Stdout, r.Secret)
	case "list":
		ts, err := c.Tokens(ctx, *all)
		if err != nil {
			return err
		}
		if cmd.json() {
			return printJSON(env.Stdout, ts)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tOWNER\tROLE\tEXPIRES\tLAST USED\tSTATUS")
		now := time.Now()
		for _, t := range ts {
			st := "live"
			switch {
			case !t.Revoked.IsZero():
				st = "revoked"
			case !t.Live(now):
				st = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(t.ID), safe(t.Name), t.Kind, safe(t.Owner), t.Role,
				fmtDay(t.Expires, "never"), fmtDay(t.LastUsed, "-"), st)
		}
		return tw.Flush()
	case "revoke":
		if err := c.RevokeToken(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "token %s revoked\n", pos[0])
	}
	return nil
}

const auditUsage = `usage:
  unyo audit list [--from T] [--to T] [--actor NAME] [--limit N] [-o table|json]   T: RFC 3339 or YYYY-MM-DD
  unyo audit verify                                   check the hash chain (exit 1 if broken)`

func auditCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "the audit log: who did what, when, from where", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	from := list.Flags().String("from", "", "entries at or after T (RFC 3339 or YYYY-MM-DD)")
	to := list.Flags().String("to", "", "entries before T (RFC 3339 or YYYY-MM-DD)")
	actor := list.Flags().String("actor", "", "only this actor's")
	limit := list.Flags().Int("limit", 0, "at most this many (default all, in pages)")
	list.RunE = run(func(ctx context.Context, pos []string) error {
		return runAudit(ctx, env, la, "list", pos, *from, *to, *actor, *limit)
	})
	verify := &cobra.Command{Use: "verify", Short: "check the hash chain (exit 1 if broken)", ValidArgsFunction: noArgs}
	va := newAPICmd(env, verify)
	verify.RunE = run(func(ctx context.Context, pos []string) error {
		return runAudit(ctx, env, va, "verify", pos, "", "", "", 0)
	})
	return group("audit", "list and verify the audit log", "", list, verify)
}

func runAudit(ctx context.Context, env *Env, cmd *apiCmd, verb string, pos []string, from, to, actor string, limit int) error {
	if limit < 0 {
		return usagef("--limit %d: want 0 (all) or more", limit)
	}
	c, err := cmd.connect(pos, 0, auditUsage)
	if err != nil {
		return err
	}
	if verb == "verify" {
		r, err := c.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		if cmd.json() {
			if err := printJSON(env.Stdout, r); err != nil {
				return err
			}
		} else if r.OK {
			fmt.Fprintf(env.Stdout, "audit log intact: %d entries, head %s\n", r.Entries, r.Head)
		}
		if !r.OK {
			return fmt.Errorf("audit log broken at entry %d: %s", r.BadSeq, r.Problem)
		}
		return nil
	}
	q := client.AuditQuery{Actor: actor}
	for _, p := range []struct {
		flag, v string
		dst     *time.Time
	}{{"from", from, &q.From}, {"to", to, &q.To}} {
		if p.v == "" {
			continue
		}
		t, err := parseTime(p.flag, p.v)
		if err != nil {
			return err
		}
		*p.dst = *t
	}
	var all []auth.AuditEntry
	for {
		q.Limit = 1000
		if limit > 0 {
			q.Limit = min(1000, limit-len(all))
		}
		es, err := c.Audit(ctx, q)
		if err != nil {
			return err
		}
		all = append(all, es...)
		if len(es) < q.Limit || (limit > 0 && len(all) >= limit) {
			break
		}
		q.After = es[len(es)-1].Seq
	}
	if cmd.json() {
		return printJSON(env.Stdout, all)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "SEQ\tAT\tACTOR\tROLE\tACTION\tTARGET\tFROM\tRESULT\tDETAIL")
	for _, e := range all {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.At),
			safe(e.Actor), safe(string(e.Role)), safe(e.Action), safe(e.Target), safe(e.From), safe(string(e.Result)), oneLine(e.Detail, 60))
	}
	return tw.Flush()
}

// readNewPassword reads a new password (twice on a terminal).
func readNewPassword(env *Env, stdin bool) (string, error) {
	pw, err := readPassword(env, stdin, "New password: ")
	if err != nil || stdin {
		return pw, err
	}
	again, err := readPassword(env, false, "Again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

// stdinLines is shared by the reads of one command (--password-stdin
// gives the old and the new password on two lines).
var stdinLines *bufio.Reader

// readPassword reads a password from the first line of stdin
// (--password-stdin) or from the terminal without echo.
func readPassword(env *Env, stdin bool, prompt string) (string, error) {
	if stdin {
		if env.Stdin == nil {
			return "", errors.New("--password-stdin: no standard input")
		}
		if stdinLines == nil {
			stdinLines = bufio.NewReader(io.LimitReader(env.Stdin, 64<<10))
		}
		line, err := stdinLines.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", fmt.Errorf("--password-stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("no terminal to ask the password on: use --password-stdin")
	}
	defer tty.Close()
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", errors.New("no terminal to ask the password on: use --password-stdin")
	}
	noEcho := *old
	noEcho.Lflag &^= unix.ECHO
	noEcho.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &noEcho); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old) //nolint:errcheck // best effort restore
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(io.LimitReader(tty, 64<<10)).ReadString('\n')
	fmt.Fprintln(tty)
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
