package node

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/web"
)

// newWeb registers the console's pages on the node's mux (package web),
// with the same dependencies as the JSON API, and wraps the node's
// handler with the page middleware (cross-origin protection, login
// redirects, gzip).
func (n *Node) newWeb(d console.Deps) {
	n.hub = web.NewHub(web.HubOptions{Registerer: n.opts.Registry})
	wd := web.Deps{Deps: d, Hub: n.hub, SessionTTL: n.opts.Auth.SessionTTL}
	if n.agents != nil {
		wd.Agents = n.agents
	}
	if n.raft != nil {
		wd.Cluster = func() (cluster.Status, bool) { return n.raft.Status(), true }
	}
	if n.opts.Config != nil {
		if u, err := url.Parse(n.opts.Config.HTTP.ExternalURL); err == nil && u.Scheme != "" && u.Host != "" {
			wd.TrustedOrigins = append(wd.TrustedOrigins, u.Scheme+"://"+u.Host)
			wd.SecureCookie = u.Scheme == "https"
		}
	}
	n.web = web.Register(n.mux, wd)
}

// liveTransition is what an "incident" event of the live stream carries.
type liveTransition struct {
	ID       int64  `json:"id"`
	Target   string `json:"target"`
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Severity string `json:"severity"`
}

// startWeb feeds the live stream: every incident transition on the bus
// (published by whichever node's relay committed it) goes to the hub, and
// every change of a run or a job in the replicated job network state
// (web.Server.WatchRuns, until ctx ends), and every change of an
// agent's heartbeat state, version or slots, or of the rollout shown on
// the agents' pages (web.Server.WatchAgents).
func (n *Node) startWeb(ctx context.Context) error {
	n.bg.Add(1)
	go func() { defer n.bg.Done(); n.web.WatchRuns(ctx, 500*time.Millisecond) }()
	n.bg.Add(1)
	go func() { defer n.bg.Done(); n.web.WatchAgents(ctx, time.Second) }()
	sub, err := n.bus.Conn().Subscribe(strings.TrimSuffix(n.bus.IncidentSubject("x"), "x")+"*", func(m *nats.Msg) {
		var t bus.Transition
		if err := json.Unmarshal(m.Data, &t); err != nil {
			return
		}
		n.hub.Publish("incident", liveTransition{ID: t.Incident.ID, Target: t.Incident.Target, Kind: string(t.Entry.Kind),
			State: string(t.Incident.State), Severity: string(t.Incident.Severity)})
	})
	if err != nil {
		return err
	}
	n.webSub = sub
	return nil
}

func (n *Node) stopWeb() {
	if n.webSub != nil {
		_ = n.webSub.Unsubscribe()
		n.webSub = nil
	}
}

// Hub returns the console's live hub (publish run and job changes to it).
func (n *Node) Hub() *web.Hub { return n.hub }

var _ web.LiveRuns = jobnetView{}
