package configs

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Job kinds of failover drills and password rotation.
const (
	JobKindDrill          = "drill"
	JobKindRotatePassword = "rotate-password"
)

// DrillFailedRunbook is the runbook of a failed drill's incident unless
// the job names another.
const DrillFailedRunbook = "drill-failed"

// JobDrill is the built-in failover drill (package drill).
type JobDrill struct {
	// Kind: platform (move Raft leadership, optionally kill the old
	// leader) or external (a hot-standby pair outside unyo).
	Kind string `yaml:"kind" json:"kind"`
	// TargetRTO (0: none) and TargetRPO (acknowledged writes that may be
	// lost, default 0) fail a drill that misses them.
	TargetRTO time.Duration `yaml:"target_rto" json:"target_rto,omitempty"`
	TargetRPO int64         `yaml:"target_rpo" json:"target_rpo,omitempty"`
	// Limit: the path must serve again within it (default 2m).
	Limit time.Duration `yaml:"limit" json:"limit,omitempty"`
	// Platform: To is the member to hand leadership to ("" any);
	// KillCommand (argv), when given, is run with UNYO_DRILL_MEMBER set to
	// the old leader's name after the hand-over (a real kill or restart).
	To          string   `yaml:"to" json:"to,omitempty"`
	KillCommand []string `yaml:"kill_command" json:"kill_command,omitempty"`
	// External: Switchover (argv, required) moves the pair to its
	// standby; Switchback (argv) moves it back, after a stop condition or
	// a failure, and after a passing drill too when SwitchBack is set.
	Switchover []string `yaml:"switchover" json:"switchover,omitempty"`
	Switchback []string `yaml:"switchback" json:"switchback,omitempty"`
	SwitchBack bool     `yaml:"switch_back" json:"switch_back,omitempty"`
	// Checks are named probes; ServedWhen names those that must all be
	// good for the standby to serve (default: every check not in
	// StopWhenBad), RestoredWhen those after a switchback (default
	// ServedWhen), StopWhenBad the stop conditions.
	Checks       []DrillCheck `yaml:"checks" json:"checks,omitempty"`
	ServedWhen   []string     `yaml:"served_when" json:"served_when,omitempty"`
	RestoredWhen []string     `yaml:"restored_when" json:"restored_when,omitempty"`
	StopWhenBad  []string     `yaml:"stop_when_bad" json:"stop_when_bad,omitempty"`
	// Canary of an external drill (platform drills write events through
	// the node's ingest into the ledger).
	Canary DrillCanary `yaml:"canary" json:"canary,omitzero"`
}

// DrillCheck is one named probe: exactly one of TCP (host:port), HTTP (a
// URL) and Command (argv, good when it exits 0).
type DrillCheck struct {
	Name    string   `yaml:"name" json:"name"`
	TCP     string   `yaml:"tcp" json:"tcp,omitempty"`
	HTTP    string   `yaml:"http" json:"http,omitempty"`
	Command []string `yaml:"command" json:"command,omitempty"`
}

// DrillCanary writes the sequence: TCP (addresses tried in order, the
// canary line protocol of package drill), or Write and Read commands
// (argv; Write gets the sequence number as its last argument and in
// UNYO_DRILL_SEQ, Read prints the highest surviving one).
type DrillCanary struct {
	TCP   []string `yaml:"tcp" json:"tcp,omitempty"`
	Write []string `yaml:"write" json:"write,omitempty"`
	Read  []string `yaml:"read" json:"read,omitempty"`
}

// JobRotatePassword is the built-in rotate-password job: a new random
// password for each local account (chpasswd) and PostgreSQL role (ALTER
// ROLE), verified, stored sealed in the ledger before it is set.
type JobRotatePassword struct {
	// Host names the server in the accounts' names (HOST/local/USER,
	// HOST/postgres/ROLE); default run_on.node, else "leader".
	Host          string   `yaml:"host" json:"host,omitempty"`
	LocalAccounts []string `yaml:"local_accounts" json:"local_accounts,omitempty"`
	// Postgres: the server to change roles on, as a URL without a
	// password (local trust or peer, or the server's own PGPASSFILE: a
	// task carries no secret).
	Postgres      string   `yaml:"postgres" json:"postgres,omitempty"`
	PostgresRoles []string `yaml:"postgres_roles" json:"postgres_roles,omitempty"`
	// Length of the new passwords (default 24, 16..128).
	Length int `yaml:"length" json:"length,omitempty"`
	// VerifyCommand, when set, is one more check of each new password
	// after it is set and verified: the command runs where the job runs
	// with the account in UNYO_ACCOUNT and the password on its standard
	// input; a non-zero exit fails the rotation (the old password is
	// restored).
	VerifyCommand []string `yaml:"verify_command" json:"verify_command,omitempty"`
}

var (
	drillCheckNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	localUserRE      = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
)

func (jb *JobConfig) drillDefaults() {
	switch jb.Kind {
	case JobKindDrill:
		if jb.Runbook == "" {
			jb.Runbook = DrillFailedRunbook
		}
		if jb.Drill.Limit == 0 {
			jb.Drill.Limit = 2 * time.Minute
		}
		if len(jb.Drill.ServedWhen) == 0 {
			for _, c := range jb.Drill.Checks {
				if !slices.Contains(jb.Drill.StopWhenBad, c.Name) {
					jb.Drill.ServedWhen = append(jb.Drill.ServedWhen, c.Name)
				}
			}
		}
		if len(jb.Drill.RestoredWhen) == 0 {
			jb.Drill.RestoredWhen = slices.Clone(jb.Drill.ServedWhen)
		}
	case JobKindRotatePassword:
		if jb.Rotate.Length == 0 {
			jb.Rotate.Length = 24
		}
		// On a remote agent the host is the agent (a tag's: the agent
		// that takes the task, left empty here).
		if jb.Rotate.Host == "" && jb.RunOn.Tag == "" {
			jb.Rotate.Host = cmp.Or(jb.RunOn.Node, jb.RunOn.Agent, "leader")
		}
	}
}

func (jb JobConfig) validateDrill(v validator) {
	dv := v.sub("drill")
	d := jb.Drill
	if jb.RunOn.Agent != "" || jb.RunOn.Tag != "" {
		v.sub("run_on").errAt("agent", v.field("kind"), "a drill job runs on a node (node or none), not on an agent")
	}
	nonNegative(dv, "target_rto", d.TargetRTO)
	positive(dv, "limit", d.Limit)
	if d.TargetRPO < 0 {
		dv.errf("target_rpo", "%d: want 0 or more writes", d.TargetRPO)
	}
	names := map[string]bool{}
	for i, c := range d.Checks {
		cv := dv.sub(fmt.Sprintf("checks[%d]", i))
		switch {
		case !drillCheckNameRE.MatchString(c.Name):
			cv.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_', '.'", quote(c.Name))
		case names[c.Name]:
			cv.errf("name", "%s: a second check of that name", quote(c.Name))
		}
		names[c.Name] = true
		n := 0
		if c.TCP != "" {
			n++
			if _, _, err := net.SplitHostPort(c.TCP); err != nil {
				cv.errf("tcp", "%s: want host:port", quote(c.TCP))
			}
		}
		if c.HTTP != "" {
			n++
			if u, err := url.Parse(c.HTTP); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				cv.errf("http", "%s: want an http(s) URL", quote(c.HTTP))
			}
		}
		if len(c.Command) > 0 {
			n++
		}
		if n != 1 {
			cv.errf("name", "%s: want exactly one of tcp, http and command", quote(c.Name))
		}
	}
	for _, l := range []struct {
		key   string
		names []string
	}{{"served_when", d.ServedWhen}, {"restored_when", d.RestoredWhen}, {"stop_when_bad", d.StopWhenBad}} {
		for i, n := range l.names {
			if !names[n] {
				dv.errf(fmt.Sprintf("%s[%d]", l.key, i), "%s: no such check in drill.checks", quote(n))
			}
		}
	}
	switch d.Kind {
	case "platform":
		if len(d.Switchover) > 0 || len(d.Checks) > 0 || !d.Canary.empty() {
			dv.errAt("kind", dv.field("kind"), "platform: switchover, checks and canary are for external drills")
		}
	case "external":
		if len(d.Switchover) == 0 {
			dv.errAt("switchover", dv.field("kind"), "required for an external drill (argv)")
		}
		if len(d.ServedWhen) == 0 {
			dv.errAt("checks", dv.field("kind"), "an external drill needs a check that says the standby serves")
		}
		if d.SwitchBack && len(d.Switchback) == 0 {
			dv.errf("switch_back", "needs switchback (argv)")
		}
		if d.To != "" || len(d.KillCommand) > 0 {
			dv.errf("to", "to and kill_command are for platform drills")
		}
		c := d.Canary
		switch {
		case len(c.TCP) > 0 && (len(c.Write) > 0 || len(c.Read) > 0):
			dv.sub("canary").errf("tcp", "want tcp, or write and read, not both")
		case (len(c.Write) > 0) != (len(c.Read) > 0):
			dv.sub("canary").errf("write", "want both write and read commands")
		}
		for i, a := range c.TCP {
			if _, _, err := net.SplitHostPort(a); err != nil {
				dv.sub("canary").errf(fmt.Sprintf("tcp[%d]", i), "%s: want host:port", quote(a))
			}
		}
	default:
		dv.errf("kind", "%s: want platform or external", quote(d.Kind))
	}
}

func (c DrillCanary) empty() bool { return len(c.TCP) == 0 && len(c.Write) == 0 && len(c.Read) == 0 }

func (jb JobConfig) validateRotate(v validator) {
	rv := v.sub("rotate_password")
	r := jb.Rotate
	// On a remote agent the accounts are the agent's own: they are
	// named after it (AGENT/local/USER) and a node stores passwords only
	// for the agent that asks (rotate.AgentJob).
	switch {
	case jb.RunOn.Agent != "" && r.Host != jb.RunOn.Agent:
		rv.errf("host", "%s: a job on agent %s rotates that agent's accounts (leave host out)", quote(r.Host), quote(jb.RunOn.Agent))
	case jb.RunOn.Tag != "" && r.Host != "":
		rv.errf("host", "%s: a job on a tag rotates the accounts of the agent that takes it (leave host out)", quote(r.Host))
	}
	if len(r.LocalAccounts) == 0 && len(r.PostgresRoles) == 0 {
		rv.errAt("local_accounts", v.field("kind"), "want at least one local account or PostgreSQL role")
	}
	for i, u := range r.LocalAccounts {
		if !localUserRE.MatchString(u) || u == "root" {
			rv.errf(fmt.Sprintf("local_accounts[%d]", i), "%s: want a local user name (not root)", quote(u))
		}
	}
	for i, role := range r.PostgresRoles {
		if !sqlIdentRE.MatchString(role) || role == "postgres" {
			rv.errf(fmt.Sprintf("postgres_roles[%d]", i), "%s: want a role name (lower case, not postgres)", quote(role))
		}
	}
	if len(r.PostgresRoles) > 0 {
		u, err := url.Parse(r.Postgres)
		switch {
		case r.Postgres == "":
			rv.errf("postgres", "required with postgres_roles")
		case err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql"):
			rv.errf("postgres", "want a postgres:// URL")
		default:
			if _, ok := u.User.Password(); ok || u.Query().Has("password") {
				rv.errf("postgres", "no password in the URL: a task carries no secret (use the server's PGPASSFILE, peer or trust)")
			}
		}
	}
	if r.Length < 16 || r.Length > 128 {
		rv.errf("length", "%d: want 16..128", r.Length)
	}
	if len(r.VerifyCommand) > 64 {
		rv.errf("verify_command", "%d arguments: want at most 64", len(r.VerifyCommand))
	} else if len(r.VerifyCommand) > 0 && !strings.HasPrefix(r.VerifyCommand[0], "/") {
		rv.errf("verify_command", "%s: want an absolute path first", quote(r.VerifyCommand[0]))
	}
	if (r.Host == "" && jb.RunOn.Tag == "") || len(r.Host) > 64 {
		rv.errf("host", "%s: want 1 to 64 characters", quote(r.Host))
	}
}
