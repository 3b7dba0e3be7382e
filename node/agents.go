package node

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/monitor/filter"
)

// AgentsOptions configure enrolled agents (package agents).
type AgentsOptions struct {
	Enabled bool
	// NATSURL is what agents are told to connect to (default the
	// embedded server's client URL).
	NATSURL    string
	Heartbeat  time.Duration
	DownAfter  int
	Inventory  time.Duration
	Commands   map[string]agents.Command
	ShellRoles []auth.Role
}

func agentsOptions(c *configs.Config) AgentsOptions {
	a := c.Agents
	o := AgentsOptions{Enabled: a.Enabled, NATSURL: a.NATSURL, Heartbeat: a.Heartbeat, DownAfter: a.DownAfter,
		Inventory: a.InventoryInterval, Commands: map[string]agents.Command{}}
	for _, cmd := range a.Commands {
		roles := make([]auth.Role, 0, len(cmd.Roles))
		for _, r := range cmd.Roles {
			roles = append(roles, auth.Role(r))
		}
		o.Commands[cmd.Name] = agents.Command{Argv: cmd.Argv, Roles: roles, Timeout: cmd.Timeout}
	}
	for _, r := range a.ShellRoles {
		o.ShellRoles = append(o.ShellRoles, auth.Role(r))
	}
	return o
}

// newAgents makes the agents' service before the bus opens, so that the
// embedded server asks it who holds an NKey.
func (n *Node) newAgents() {
	o := n.opts.Agents
	if !o.Enabled {
		return
	}
	n.agents = agents.New(agents.Options{Store: n.store, Node: n.opts.Name, Heartbeat: o.Heartbeat, DownAfter: o.DownAfter,
		Inventory: o.Inventory, Commands: o.Commands, ShellRoles: o.ShellRoles, Leader: n.IsLeader,
		Logger: n.log.With("component", "agents"), Registerer: n.opts.Registry})
	n.opts.Bus.Directory = n.agents
}

// wireAgents gives the service what exists only once the node is built:
// the spool, the signer, the filters, the audit, the URLs; and registers
// its routes.
func (n *Node) wireAgents() error {
	if n.agents == nil {
		return nil
	}
	signer, _, err := n.signer()
	if err != nil {
		return err
	}
	pem := signer.PublicKeyPEM()
	if files := n.opts.Jobnets.TrustedKeyFiles; len(files) > 0 {
		keys, err := jobnet.ReadTrustedKeys(files...)
		if err != nil {
			return fmt.Errorf("node: agents: %w", err)
		}
		for _, k := range keys {
			pem = append(pem, jobnet.EncodePublicKey(k)...)
		}
	}
	eng, err := filter.New(n.opts.Monitor.Filters, filter.NewMetrics(nil))
	if err != nil {
		return fmt.Errorf("node: agents: message filters: %w", err)
	}
	natsURL := n.opts.Agents.NATSURL
	if natsURL == "" {
		// An external URL holds the nodes' own user and password: the
		// agents get the servers only (they connect with their NKeys).
		natsURL = withoutUserInfo(n.bus.ClientURL())
	}
	in := n.ingest.in
	n.agents.SetRuntime(agents.Runtime{
		Publish: func(ctx context.Context, ev incident.Event) error {
			if ev.Received.IsZero() {
				ev.Received = time.Now().UTC()
			}
			return in.Publish(ctx, ev)
		},
		Filters: func() *filter.Engine { return eng },
		Signer:  signer, TrustPEM: pem, Home: n.URL(), NATS: natsURL, Audit: n.guard.Audit,
	})
	agents.Register(n.mux, n.agents, func() *nats.Conn { return n.bus.Conn() })
	return nil
}

func (n *Node) startAgents(ctx context.Context) {
	if n.agents == nil {
		return
	}
	go func() {
		if err := n.agents.Run(ctx, n.bus.Conn()); err != nil {
			n.log.Error("agents service stopped", "err", err)
		}
	}()
}

// registerCalloutMetrics exports the external NATS's auth callout
// answers of this node: unyo_bus_auth_callout_requests_total{result}.
func (n *Node) registerCalloutMetrics() {
	if n.opts.Bus.Callout == nil || n.opts.Bus.URL == "" {
		return
	}
	const help = "Auth callout requests of the external NATS this node answered, by result (granted: an enabled enrolled agent; refused)."
	b := n.bus
	for _, r := range []string{"granted", "refused"} {
		n.opts.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "unyo_bus_auth_callout_requests_total",
			Help: help, ConstLabels: prometheus.Labels{"result": r}}, func() float64 {
			g, f := b.CalloutCounts()
			if r == "granted" {
				return float64(g)
			}
			return float64(f)
		}))
	}
}

// withoutUserInfo drops the user and password of each URL of a
// comma-separated NATS URL list.
func withoutUserInfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		u, err := url.Parse(p)
		switch {
		case err != nil && strings.Contains(p, "@"):
			scheme, _, found := strings.Cut(p, "://")
			p = p[strings.LastIndex(p, "@")+1:]
			if found {
				p = scheme + "://" + p
			}
		case err == nil && u.User != nil:
			u.User = nil
			p = u.String()
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// Agents returns the agents' service (nil unless agents.enabled).
func (n *Node) Agents() *agents.Service { return n.agents }
