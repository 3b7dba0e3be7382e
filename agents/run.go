package agents

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/monitor/filter"
)

// Authenticator proves the identity of an enrolment request: a bearer
// enrolment token (unyoe_…) that is live, counted as one use. The
// identity's Name is the token's group.
func (s *Service) Authenticator() auth.Authenticator {
	return auth.AuthenticatorFunc(func(r *http.Request) (auth.Identity, bool, error) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(tok, TokenPrefix) {
			return auth.Identity{}, false, nil
		}
		t, err := s.o.Store.UseEnrollToken(r.Context(), HashSecret(tok), s.o.Now())
		if errors.Is(err, ErrToken) {
			return auth.Identity{}, true, fmt.Errorf("enrolment token not valid (unknown, expired, revoked or used up)")
		} else if err != nil {
			return auth.Identity{}, true, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
		}
		return auth.Identity{Kind: auth.KindEnroll, Name: t.Group, Role: auth.RoleEnroller, TokenID: t.ID, From: r.RemoteAddr}, true, nil
	})
}

// Run serves the agents' subjects on nc until ctx ends: heartbeats (every
// node hears every one), inventories and log lines (one node each, a
// queue group); the leader writes heartbeats to the store and raises or
// clears the heartbeat fault.
func (s *Service) Run(ctx context.Context, nc *nats.Conn) error {
	s.mu.Lock()
	s.started = s.o.Now()
	s.mu.Unlock()
	subs := []*nats.Subscription{}
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	sub, err := nc.Subscribe(bus.AgentBeatSubject+".*", s.onBeat)
	if err != nil {
		return err
	}
	subs = append(subs, sub)
	_ = sub.SetPendingLimits(100_000, 64<<20)
	// A tag change on any node: this node's directory follows at once.
	if sub, err = nc.Subscribe(bus.AgentTagsSubject+".*", func(*nats.Msg) { _ = s.Refresh(ctx) }); err != nil {
		return err
	}
	subs = append(subs, sub)
	for subj, h := range map[string]nats.MsgHandler{
		bus.AgentInventorySubject + ".*": func(m *nats.Msg) { s.reply(m, s.onInventory(ctx, m)) },
		bus.AgentLogSubject + ".*":       func(m *nats.Msg) { s.reply(m, s.onLog(ctx, m)) },
		bus.AgentUninstallSubject + ".*": func(m *nats.Msg) { s.reply(m, s.onUninstall(ctx, m)) },
	} {
		sub, err := nc.QueueSubscribe(subj, "unyo-agents", h)
		if err != nil {
			return err
		}
		subs = append(subs, sub)
	}
	refresh := time.NewTicker(5 * time.Second)
	defer refresh.Stop()
	flush := time.NewTicker(max(s.o.Heartbeat/5, 100*time.Millisecond))
	defer flush.Stop()
	_ = s.Refresh(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-refresh.C:
			if err := s.Refresh(ctx); err != nil && ctx.Err() == nil {
				s.log.Debug("agent directory refresh", "err", err)
			}
		case <-flush.C:
			if s.o.Leader() {
				s.flush(ctx)
			}
		}
	}
}

func (s *Service) reply(m *nats.Msg, a Ack) {
	if m.Reply == "" {
		return
	}
	b, _ := json.Marshal(a)
	_ = m.Respond(b)
}

// sender is the agent a message came from: the last token of its subject
// (the agent's NATS permissions allow only its own).
func sender(subject string) string {
	i := strings.LastIndexByte(subject, '.')
	return subject[i+1:]
}

func (s *Service) onBeat(m *nats.Msg) {
	var b Beat
	if len(m.Data) > 4096 || json.Unmarshal(m.Data, &b) != nil {
		s.beats.WithLabelValues("malformed").Inc()
		return
	}
	name := sender(m.Subject)
	now := s.o.Now().UTC()
	s.mu.Lock()
	s.seen[name] = Seen{Name: name, At: now, Version: clip(b.Version, 64), SlotsUsed: b.SlotsUsed}
	s.last[name] = now
	s.mu.Unlock()
	s.beats.WithLabelValues("ok").Inc()
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// flush writes the heartbeats heard since the last flush and checks
// liveness (leader only).
func (s *Service) flush(ctx context.Context) {
	s.mu.Lock()
	batch := make([]Seen, 0, len(s.seen))
	for _, x := range s.seen {
		batch = append(batch, x)
	}
	clear(s.seen)
	started := s.started
	s.mu.Unlock()
	if len(batch) > 0 {
		if err := s.o.Store.TouchAgents(ctx, batch); err != nil {
			s.log.Warn("heartbeats not written", "agents", len(batch), "err", err)
			s.mu.Lock()
			for _, x := range batch {
				if _, newer := s.seen[x.Name]; !newer {
					s.seen[x.Name] = x
				}
			}
			s.mu.Unlock()
		}
	}
	now := s.o.Now()
	// After a start, agents have one period to reach this node before
	// any is called down.
	if now.Sub(started) < s.downAfter() {
		return
	}
	list, err := s.o.Store.ListAgents(ctx)
	if err != nil {
		return
	}
	for _, a := range list {
		if a.Kind != KindResident || a.Disabled {
			continue
		}
		s.mu.RLock()
		last := s.last[a.Name]
		wasDown, known := s.down[a.Name]
		s.mu.RUnlock()
		if a.LastSeen.After(last) {
			last = a.LastSeen
		}
		if last.IsZero() {
			last = a.Enrolled
		}
		isDown := now.Sub(last) > s.downAfter()
		if known && isDown == wasDown {
			continue
		}
		if !known && !isDown {
			s.mu.Lock()
			s.down[a.Name] = false
			s.mu.Unlock()
			continue
		}
		ev := incident.Event{ID: uuid.NewString(), Source: Source, Target: a.Name, Check: "heartbeat",
			DedupKey: "agent:" + a.Name + ":heartbeat", Severity: incident.Major, Time: now.UTC(), Received: now.UTC(),
			Labels: map[string]string{"group": a.Group, "kind": string(a.Kind)}}
		if isDown {
			ev.Status = incident.Problem
			ev.Message = fmt.Sprintf("agent %s: no heartbeat for %s (last seen %s)", a.Name, now.Sub(last).Round(time.Second), last.UTC().Format(time.RFC3339))
		} else {
			ev.Status = incident.OK
			ev.Message = fmt.Sprintf("agent %s: heartbeats again", a.Name)
		}
		if err := s.o.Publish(ctx, ev); err != nil {
			s.log.Warn("agent liveness event not published", "agent", a.Name, "err", err)
			continue
		}
		s.log.Info("agent liveness", "agent", a.Name, "down", isDown)
		s.mu.Lock()
		s.down[a.Name] = isDown
		s.mu.Unlock()
	}
}

// onInventory stores an agent's inventory and raises an event per change.
func (s *Service) onInventory(ctx context.Context, m *nats.Msg) Ack {
	name := sender(m.Subject)
	var inv inventory.Inventory
	if len(m.Data) > MaxInventoryBytes || json.Unmarshal(m.Data, &inv) != nil {
		s.invs.WithLabelValues("refused").Inc()
		return Ack{Error: "inventory: malformed or too large"}
	}
	n, err := s.PutInventory(ctx, name, inv)
	if err != nil {
		s.invs.WithLabelValues("refused").Inc()
		return Ack{Error: err.Error()}
	}
	ack := Ack{OK: true, Changes: n}
	if tags, ok := s.TagsOf(name); ok {
		tags = normTags(tags)
		ack.Tags = &tags
	}
	return ack
}

// MaxChangeEvents bounds the events one inventory raises; the rest are
// summed up in one event.
const MaxChangeEvents = 200

// PutInventory stores inv as agent's newest inventory and publishes one
// event per change against the one before (none for the first). It
// returns the number of changes.
func (s *Service) PutInventory(ctx context.Context, agent string, inv inventory.Inventory) (int, error) {
	a, err := s.o.Store.GetAgent(ctx, agent)
	if err != nil {
		return 0, err
	}
	inv.Limit()
	now := s.o.Now().UTC()
	if inv.Collected.IsZero() || inv.Collected.After(now.Add(5*time.Minute)) {
		inv.Collected = now
	}
	data, err := json.Marshal(inv)
	if err != nil {
		return 0, err
	}
	if len(data) > MaxInventoryBytes {
		return 0, fmt.Errorf("inventory of %s: %d bytes, more than %d", agent, len(data), MaxInventoryBytes)
	}
	prev, err := s.o.Store.Inventories(ctx, agent, 1)
	if err != nil {
		return 0, err
	}
	hash := inv.Hash()
	if len(prev) == 1 && prev[0].Hash == hash {
		s.invs.WithLabelValues("same").Inc()
		return 0, nil
	}
	var changes []inventory.Change
	if len(prev) == 1 {
		var old inventory.Inventory
		if err := json.Unmarshal(prev[0].Data, &old); err == nil {
			changes = inventory.Diff(old, inv)
		}
	}
	at := inv.Collected
	if len(prev) == 1 && !at.After(prev[0].At) {
		at = prev[0].At.Add(time.Microsecond)
	}
	if err := s.o.Store.PutInventory(ctx, StoredInventory{Agent: agent, At: at, Hash: hash, Data: data}); err != nil {
		return 0, err
	}
	if a.Hostname != inv.Hostname || a.OS != inv.OS.Platform+" "+inv.OS.Version {
		a.Hostname, a.OS = inv.Hostname, strings.TrimSpace(inv.OS.Platform+" "+inv.OS.Version)
		_ = s.o.Store.PutAgent(ctx, a)
	}
	s.invs.WithLabelValues("changed").Inc()
	for i, c := range changes {
		ev := incident.Event{ID: uuid.NewString(), Source: Source, Target: agent, Check: "inventory",
			DedupKey: "agent:" + agent + ":inventory:" + c.Kind + ":" + c.Item, Severity: incident.Info, Status: incident.Problem,
			Time: at, Received: now, Message: c.String() + " on " + agent,
			Labels: map[string]string{"kind": c.Kind, "item": filter.Clip(c.Item, incident.MaxFieldLen), "group": a.Group}}
		if i == MaxChangeEvents {
			ev.DedupKey = "agent:" + agent + ":inventory:more"
			ev.Message = fmt.Sprintf("%d more inventory changes on %s (see unyo agents diff %s)", len(changes)-i, agent, agent)
			ev.Labels = map[string]string{"group": a.Group}
		}
		ev.Message = filter.Clip(ev.Message, incident.MaxMessageLen)
		ev.DedupKey = filter.Clip(ev.DedupKey, incident.MaxFieldLen)
		if err := s.o.Publish(ctx, ev); err != nil {
			return i, fmt.Errorf("inventory change event: %w", err)
		}
		if i == MaxChangeEvents {
			break
		}
	}
	return len(changes), nil
}

// onLog passes an agent's log lines through the message filters.
func (s *Service) onLog(ctx context.Context, m *nats.Msg) Ack {
	name := sender(m.Subject)
	var b LogBatch
	if len(m.Data) > 1<<20 || json.Unmarshal(m.Data, &b) != nil {
		return Ack{Error: "log batch: malformed or too large"}
	}
	var eng *filter.Engine
	if s.o.Filters != nil {
		eng = s.o.Filters()
	}
	if eng == nil {
		return Ack{Error: "no message filters on this node"}
	}
	app := b.App
	if app == "" {
		app = b.File
	}
	now := s.o.Now().UTC()
	for _, l := range b.Lines {
		msg := filter.Message{Time: now, Received: now, Host: name, Facility: 1, Severity: 6, App: filter.Clip(app, 128),
			Text: filter.Clip(l.Text, 8192), Raw: filter.Clip(l.Text, 8192)}
		d := eng.Match(&msg)
		s.lines.WithLabelValues(d.Action).Inc()
		if !d.Emit() {
			continue
		}
		ev := d.Event(&msg, Source)
		ev.Labels["file"] = filter.Clip(b.File, incident.MaxFieldLen)
		ev.Received = now
		if err := s.o.Publish(ctx, ev); err != nil {
			return Ack{Error: "publish: " + err.Error()}
		}
	}
	return Ack{OK: true}
}

// Import registers a standalone server's collected inventory (a
// CollectFile), checking its signature; an agent of the same host id is
// updated (deduplicated), else one is made in group.
func (s *Service) Import(ctx context.Context, id auth.Identity, f CollectFile) (Agent, int, error) {
	key, err := hex.DecodeString(f.SignKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return Agent{}, 0, fmt.Errorf("%w: sign_key: want the hex of an ed25519 public key", ErrBadRequest)
	}
	if !ed25519.Verify(key, append([]byte(CollectContext), f.Inventory...), f.Sig) {
		return Agent{}, 0, fmt.Errorf("%w: the signature does not verify", ErrBadRequest)
	}
	var inv inventory.Inventory
	if len(f.Inventory) > MaxInventoryBytes || json.Unmarshal(f.Inventory, &inv) != nil {
		return Agent{}, 0, fmt.Errorf("%w: inventory: malformed or too large", ErrBadRequest)
	}
	a, err := s.o.Store.AgentByHostID(ctx, inv.HostID)
	switch {
	case err == nil:
		if a.SignKey != f.SignKey {
			return Agent{}, 0, fmt.Errorf("%w: host %s is agent %s, whose key differs from the file's", ErrBadRequest, inv.HostID, a.Name)
		}
	case errors.Is(err, ErrNotFound):
		if !NameRE.MatchString(f.Name) {
			return Agent{}, 0, fmt.Errorf("%w: name %q", ErrBadRequest, f.Name)
		}
		if _, err := s.o.Store.GetAgent(ctx, f.Name); err == nil {
			return Agent{}, 0, fmt.Errorf("agent %s: %w (another host)", f.Name, ErrExists)
		}
		group := f.Group
		if group == "" {
			group = DefaultGroup
		}
		if !NameRE.MatchString(group) {
			return Agent{}, 0, fmt.Errorf("%w: group %q", ErrBadRequest, group)
		}
		a = Agent{Name: f.Name, HostID: inv.HostID, Group: group, Kind: KindStandalone, Home: s.o.Home, SignKey: f.SignKey,
			Enrolled: s.o.Now().UTC(), EnrolledBy: id.Actor()}
	default:
		return Agent{}, 0, err
	}
	a.Version, a.LastSeen = clip(f.Version, 64), inv.Collected
	if err := s.o.Store.PutAgent(ctx, a); err != nil {
		return Agent{}, 0, err
	}
	n, err := s.PutInventory(ctx, a.Name, inv)
	return a, n, err
}
