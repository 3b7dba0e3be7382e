package configs

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// AgentsConfig configures enrolled agents (package agents): enrolment,
// heartbeats, inventories and remote operations. Node-local, like nats.
type AgentsConfig struct {
	// Enabled turns on enrolment and the agents' API; it needs the
	// embedded NATS server with a client listener (nats.embedded.listen),
	// or an external NATS whose auth callout the nodes answer
	// (nats.auth_callout), where enrolled agents connect with their NKeys.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// NATSURL is the URL agents are told to connect to (default
	// nats://<nats.embedded.listen>, or nats.url without its user and
	// password).
	NATSURL string `yaml:"nats_url" json:"nats_url"`
	// Heartbeat is the agents' heartbeat interval; DownAfter missed
	// heartbeats raise a fault.
	Heartbeat time.Duration `yaml:"heartbeat" json:"heartbeat"`
	DownAfter int           `yaml:"down_after" json:"down_after"`
	// InventoryInterval is how often agents send their inventory.
	InventoryInterval time.Duration `yaml:"inventory_interval" json:"inventory_interval"`
	// Commands are the remote commands operators may run (the allowlist).
	Commands []AgentCommand `yaml:"commands,omitempty" json:"commands"`
	// ShellRoles may run free-form commands (none by default).
	ShellRoles []string `yaml:"shell_roles,omitempty" json:"shell_roles"`
}

// AgentCommand is one allowed remote command.
type AgentCommand struct {
	Name    string        `yaml:"name" json:"name"`
	Argv    []string      `yaml:"argv" json:"argv"`
	Roles   []string      `yaml:"roles" json:"roles"`
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

func (s *AgentsConfig) defaults() {
	s.Heartbeat = 10 * time.Second
	s.DownAfter = 3
	s.InventoryInterval = time.Hour
}

func (s *AgentsConfig) resolve(c *Config, _ string) {
	if s.NATSURL == "" && c.NATS.Embedded.Listen != "" {
		s.NATSURL = "nats://" + c.NATS.Embedded.Listen
	}
}

var commandNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

var userRoles = []string{"viewer", "operator", "ops-se", "site-manager", "admin"}

func (s *AgentsConfig) validate(c *Config, v validator) {
	if !s.Enabled {
		return
	}
	switch {
	case c.NATS.URL == "" && c.NATS.Embedded.Listen == "" && s.NATSURL == "":
		v.errf("enabled", "agents need a NATS listener: set nats.embedded.listen")
	case c.NATS.URL != "" && !c.NATS.AuthCallout.Enabled():
		v.errf("enabled", "with an external NATS (nats.url) enrolled agents connect only through its auth callout: set nats.auth_callout (docs/bus.md)")
	}
	if s.Heartbeat < time.Second || s.Heartbeat > 10*time.Minute {
		v.errf("heartbeat", "%s: want 1s to 10m", fmtDuration(s.Heartbeat))
	}
	if s.DownAfter < 2 || s.DownAfter > 100 {
		v.errf("down_after", "%d: want 2 to 100 missed heartbeats", s.DownAfter)
	}
	if s.InventoryInterval < time.Minute || s.InventoryInterval > 30*24*time.Hour {
		v.errf("inventory_interval", "%s: want 1m to 720h", fmtDuration(s.InventoryInterval))
	}
	seen := map[string]bool{}
	for i, cmd := range s.Commands {
		cv := v.sub(fmt.Sprintf("commands[%d]", i))
		if !commandNameRE.MatchString(cmd.Name) {
			cv.errf("name", "%q: want 1 to 63 of A-Z, a-z, 0-9, '.', '-', '_'", cmd.Name)
		} else if seen[cmd.Name] {
			cv.errf("name", "%q: listed twice", cmd.Name)
		}
		seen[cmd.Name] = true
		if len(cmd.Argv) == 0 || cmd.Argv[0] == "" {
			cv.errf("argv", "required: the program and its arguments")
		}
		for i, r := range cmd.Roles {
			if !slices.Contains(userRoles, r) {
				cv.errf("roles", "[%d] %q: want one of viewer, operator, ops-se, site-manager, admin", i, r)
			}
		}
		if cmd.Timeout < 0 || cmd.Timeout > 10*time.Minute {
			cv.errf("timeout", "%s: want 0 (30s) to 10m", fmtDuration(cmd.Timeout))
		}
	}
	for i, r := range s.ShellRoles {
		if !slices.Contains(userRoles, r) {
			v.errf("shell_roles", "[%d] %q: want one of viewer, operator, ops-se, site-manager, admin", i, r)
		}
	}
}
