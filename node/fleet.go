package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"aead.dev/minisign"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/rollout"
)

// ReleaseOptions configure agent releases and rollouts (configs'
// releases section).
type ReleaseOptions struct {
	// PublicKeyFile is the trusted minisign key of release binaries; ""
	// refuses every release.
	PublicKeyFile string
	MaxBytes      int64
	MaxConcurrent int
	Watch         time.Duration
	Lease         time.Duration
}

// fleetPart is the node's side of agent releases, rollouts and re-homing.
type fleetPart struct {
	svc *rollout.Service
	key *minisign.PublicKey // nil: releases refused
	dir string
	max int64
	n   *Node
}

// newFleet builds the service on the node's Raft and bus (no Raft: none).
func (n *Node) newFleet() error {
	if n.raft == nil {
		return nil
	}
	o := n.opts.Releases
	signer, _, err := n.signer()
	if err != nil {
		return err
	}
	p := &fleetPart{n: n, dir: filepath.Join(n.opts.Cluster.DataDir, "..", "releases"), max: o.MaxBytes}
	if p.max <= 0 {
		p.max = rollout.DefaultMaxBytes
	}
	if o.PublicKeyFile != "" {
		k, err := rollout.ReadPublicKey(o.PublicKeyFile)
		if err != nil {
			return fmt.Errorf("node: releases.public_key_file: %w", err)
		}
		p.key = &k
	}
	p.svc, err = rollout.NewService(rollout.Options{Node: n.opts.Name, NC: n.bus.Conn(), Raft: n.raft, Signer: signer,
		Dir: p.dir, Replicas: n.bus.Replicas(), MaxBytes: p.max, Watch: o.Watch, Lease: o.Lease,
		MaxConcurrent: o.MaxConcurrent, Known: n.agentTags, Enrolled: n.enrolledGroups, Moved: n.agentMoved, Logger: n.log.With("component", "rollout"),
		Registerer: n.opts.Registry})
	if err != nil {
		return err
	}
	n.fleet = p
	return nil
}

func (n *Node) startFleet(ctx context.Context) error {
	if n.fleet == nil {
		return nil
	}
	return n.fleet.svc.Start(ctx)
}

// fleetView is the console's view (nil without Raft).
func (n *Node) fleetView() console.Fleet {
	if n.fleet == nil {
		return nil
	}
	return n.fleet
}

var _ console.Fleet = (*fleetPart)(nil)

// AddRelease implements console.Fleet: the body goes to a temporary file
// (at most the limit), is verified against the trusted key, and stored.
func (p *fleetPart) AddRelease(ctx context.Context, r rollout.Release, body io.Reader, by string) (rollout.Release, error) {
	if p.key == nil {
		return r, fmt.Errorf("%w: no trusted release key (releases.public_key_file): releases are refused", console.ErrConflict)
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return r, err
	}
	tmp, err := os.CreateTemp(p.dir, ".upload-*")
	if err != nil {
		return r, err
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, io.LimitReader(body, p.max+1))
	if err = errors.Join(err, tmp.Close()); err != nil {
		return r, fmt.Errorf("%w: reading the binary: %w", console.ErrInvalid, err)
	}
	if n > p.max {
		return r, fmt.Errorf("%w: release binary larger than releases.max_bytes (%d)", console.ErrTooLarge, p.max)
	}
	if n == 0 {
		return r, fmt.Errorf("%w: empty binary", console.ErrInvalid)
	}
	sum, size, err := rollout.VerifyFile(*p.key, tmp.Name(), r.Signature)
	if err != nil {
		return r, fmt.Errorf("%w: %w", console.ErrInvalid, err)
	}
	r.SHA256, r.Size = sum, size
	if err := p.svc.AddRelease(ctx, r, tmp.Name(), by); err != nil {
		return r, fleetErr(err)
	}
	for _, x := range p.Releases() {
		if x.Key() == r.Key() {
			return x, nil
		}
	}
	return r, nil
}

// Releases implements console.Fleet, newest first.
func (p *fleetPart) Releases() []rollout.Release {
	var out []rollout.Release
	p.n.raft.FleetView(func(st *rollout.State) {
		for _, r := range st.Releases {
			out = append(out, r)
		}
	})
	slices.SortFunc(out, func(a, b rollout.Release) int { return int(b.Seq - a.Seq) })
	return out
}

// SetMode implements console.Fleet.
func (p *fleetPart) SetMode(ctx context.Context, version, platform, mode, message, by string) error {
	return fleetErr(p.svc.Propose(ctx, rollout.Op{Kind: rollout.OpReleaseSet, By: by, Version: version,
		Platform: platform, Mode: mode, Message: message}))
}

// StartRollout implements console.Fleet.
func (p *fleetPart) StartRollout(ctx context.Context, req console.RolloutRequest, by string) (string, error) {
	if req.Platform == "" {
		req.Platform = "linux/amd64"
	}
	id, err := p.svc.StartRollout(ctx, rollout.Rollout{Version: req.Version, Platform: req.Platform, Canary: req.Canary,
		Wave: req.Wave, MaxConcurrent: req.MaxConcurrent, ContinueOnFailure: req.ContinueOnFailure, Full: req.Full,
		Order: req.Agents, Watch: time.Duration(req.Watch)}, by)
	return id, fleetErr(err)
}

// Rollouts implements console.Fleet (without agents and logs), newest
// first.
func (p *fleetPart) Rollouts() []console.RolloutStatus {
	var out []console.RolloutStatus
	p.n.raft.FleetView(func(st *rollout.State) {
		for _, r := range st.Rollouts {
			rs := console.RolloutStatus{Rollout: *r, Counts: st.Counts(r)}
			rs.Rollout.Order, rs.Rollout.Log = nil, nil
			out = append(out, rs)
		}
	})
	slices.SortFunc(out, func(a, b console.RolloutStatus) int { return b.StartedAt.Compare(a.StartedAt) })
	return out
}

// Rollout implements console.Fleet.
func (p *fleetPart) Rollout(id string) (console.RolloutStatus, error) {
	var out console.RolloutStatus
	found := false
	seen := p.svc.LastSeen()
	p.n.raft.FleetView(func(st *rollout.State) {
		if id == "current" || id == "" {
			if st.Current != "" {
				id = st.Current
			} else {
				var last *rollout.Rollout
				for _, r := range st.Rollouts {
					if last == nil || r.StartedAt.After(last.StartedAt) {
						last = r
					}
				}
				if last != nil {
					id = last.ID
				}
			}
		}
		r := st.Rollouts[id]
		if r == nil {
			return
		}
		found = true
		out = console.RolloutStatus{Rollout: *r, Counts: st.Counts(r), Updating: st.ActiveCount(), Log: slices.Clone(r.Log)}
		out.Rollout.Log = nil
		out.Rollout.Order = slices.Clone(r.Order)
		for _, a := range r.Order {
			u := st.Updates[a]
			if u.Rollout != r.ID {
				continue
			}
			out.Agents = append(out.Agents, console.RolloutAgent{AgentUpdate: u, Level: u.Level(), LastSeen: seen[a]})
		}
	})
	if !found {
		return out, fmt.Errorf("%w: no rollout %q", console.ErrNoRun, id)
	}
	return out, nil
}

// ControlRollout implements console.Fleet.
func (p *fleetPart) ControlRollout(ctx context.Context, id, verb, by string) error {
	if id == "current" {
		p.n.raft.FleetView(func(st *rollout.State) { id = st.Current })
	}
	kind := rollout.OpRolloutPause
	if verb == "resume" {
		kind = rollout.OpRolloutResume
	}
	if id == "" {
		return fmt.Errorf("%w: no live rollout", console.ErrNoRun)
	}
	return fleetErr(p.svc.Propose(ctx, rollout.Op{Kind: kind, ID: id, By: by}))
}

// Move implements console.Fleet.
func (p *fleetPart) Move(ctx context.Context, req console.MoveRequest, by string) ([]string, error) {
	agents, err := p.svc.Move(ctx, req.To, req.TrustKeys, req.Group, req.All, by)
	return agents, fleetErr(err)
}

// NotMoved implements console.Fleet.
func (p *fleetPart) NotMoved() []rollout.NotMoved { return p.svc.NotMoved() }

// Decommission implements console.Fleet.
func (p *fleetPart) Decommission(ctx context.Context, waiver, by string) ([]rollout.NotMoved, error) {
	left, err := p.svc.Decommission(ctx, waiver, by)
	return left, fleetErr(err)
}

// fleetErr maps the rollout package's errors (also when they came back
// as text from the leader) to the console's.
func fleetErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case errors.Is(err, rollout.ErrNotFound), strings.Contains(msg, "fleet: not found"):
		return fmt.Errorf("%w: %w", console.ErrNoRun, err)
	case errors.Is(err, rollout.ErrBadOp), errors.Is(err, rollout.ErrNoAgents), strings.Contains(msg, "fleet: bad operation"):
		return fmt.Errorf("%w: %w", console.ErrInvalid, err)
	case errors.Is(err, rollout.ErrState), errors.Is(err, rollout.ErrLimit), strings.Contains(msg, "fleet: not possible"):
		return fmt.Errorf("%w: %w", console.ErrConflict, err)
	case errors.Is(err, rollout.ErrTooLarge):
		return fmt.Errorf("%w: %w", console.ErrTooLarge, err)
	case errors.Is(err, rollout.ErrNotReady), errors.Is(err, cluster.ErrNoQuorum), errors.Is(err, cluster.ErrNoLeader),
		errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrStopped):
		return console.Unavailable(err)
	}
	return err
}
