package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/rollout/cdc"
)

// Raft is what the service needs of the cluster node.
type Raft interface {
	ProposeFleet(ctx context.Context, op Op) error
	FleetView(fn func(st *State))
	IsLeader() bool
	Changed() <-chan struct{}
}

// maxInFlight bounds the agents' requests a node handles at once.
const maxInFlight = 64

// Bucket is the JetStream object store holding release binaries, named
// by their SHA-256.
const Bucket = "UNYO_RELEASES"

// Options configure a node's Service.
type Options struct {
	Node   string
	NC     *nats.Conn
	Raft   Raft
	Signer *jobnet.Signer
	// Dir caches release binaries on this node (<data_dir>/releases).
	Dir string
	// Replicas of the object store (the bus's).
	Replicas int
	// MaxBytes limits a release binary (default DefaultMaxBytes).
	MaxBytes int64
	// Watch, Lease and MaxConcurrent are a rollout's defaults.
	Watch         time.Duration
	Lease         time.Duration
	MaxConcurrent int
	// Known lists the agents this cluster knows (its configured agents)
	// with their groups (tags), beside those that reported.
	Known func() map[string][]string
	// Enrolled, when set, lists the enrolled agents of this cluster's
	// registry that may still connect (not disabled, not standalone), by
	// name, with their enrolment group ("default" for none): a move by
	// group selects them by it.
	Enrolled func(ctx context.Context) (map[string]string, error)
	// Moved, when set, is told of each agent that reports it moved away
	// (the agents' registry stops expecting its heartbeats).
	Moved func(ctx context.Context, agent string)
	// DirectiveTTL is how long a directive stays valid (default 1m).
	DirectiveTTL time.Duration
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
}

// Service is a node's side of releases, rollouts and re-homing: it
// answers agents' reports with signed directives, serves release chunks
// from a local cache of the object store, and, while the node leads,
// grants update slots and expires overdue ones.
type Service struct {
	o    Options
	log  *slog.Logger
	js   jetstream.JetStream
	mu   sync.Mutex
	obs  jetstream.ObjectStore
	seen sync.Map // agent → time.Time of its last report to this node

	cacheMu sync.Mutex // one cache fill at a time

	reports *prometheus.CounterVec
	chunks  prometheus.Counter
	bytes   prometheus.Counter
	// manifests caches the encoded cdc manifest of each release (by
	// SHA-256; as many as releases).
	manifests  sync.Map
	manifestMu sync.Mutex
	active     prometheus.Gauge
	proposed   *prometheus.CounterVec
}

// Errors of the service.
var (
	ErrTooLarge   = errors.New("rollout: release binary too large")
	ErrNoRelease  = errors.New("rollout: no such release")
	ErrNotReady   = errors.New("rollout: release store not ready")
	ErrNoAgents   = errors.New("rollout: no agents")
	errBadRequest = errors.New("bad request")
)

// New returns the service; Start serves.
func NewService(o Options) (*Service, error) {
	if o.NC == nil || o.Raft == nil || o.Signer == nil {
		return nil, errors.New("rollout: NATS, Raft and a signer required")
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Watch <= 0 {
		o.Watch = 2 * time.Minute
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 15
	}
	if o.DirectiveTTL <= 0 {
		o.DirectiveTTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Known == nil {
		o.Known = func() map[string][]string { return nil }
	}
	js, err := jetstream.New(o.NC)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, log: o.Logger, js: js,
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_rollout_reports_total",
			Help: "Agent reports this node answered, by result (ok, refused)."}, []string{"result"}),
		chunks: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_rollout_chunks_served_total",
			Help: "Release binary chunks this node served to agents."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_rollout_bytes_served_total",
			Help: "Bytes of release binaries and their chunk manifests this node served to agents."}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_rollout_updating_agents",
			Help: "Agents holding an update slot (downloading to watching), cluster-wide."}),
		proposed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_rollout_ops_total",
			Help: "Fleet operations this node proposed, by kind and result (ok, refused)."}, []string{"kind", "result"}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.reports, s.chunks, s.bytes, s.active, s.proposed} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("rollout: metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Start subscribes to the agents' subjects and runs the leader loop until
// ctx ends.
func (s *Service) Start(ctx context.Context) error {
	// Each request is handled in its own goroutine, at most
	// maxInFlight at once: a report may wait for a Raft commit, and
	// must not hold up the chunks or the other agents' reports.
	sem := make(chan struct{}, maxInFlight)
	async := func(h func(context.Context, *nats.Msg)) nats.MsgHandler {
		return func(m *nats.Msg) {
			sem <- struct{}{} // full: the subscription waits (bounded)
			go func() { defer func() { <-sem }(); h(ctx, m) }()
		}
	}
	rs, err := s.o.NC.QueueSubscribe(ReportSubject+".*", queueGroup, async(s.onReport))
	if err != nil {
		return err
	}
	cs, err := s.o.NC.QueueSubscribe(ReleaseSubject+".*", queueGroup, async(s.onChunk))
	if err != nil {
		_ = rs.Unsubscribe()
		return err
	}
	go func() {
		<-ctx.Done()
		_ = rs.Unsubscribe()
		_ = cs.Unsubscribe()
	}()
	go s.leaderLoop(ctx)
	return nil
}

// store opens (making it if needed) the object store.
func (s *Service) store(ctx context.Context) (jetstream.ObjectStore, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.obs != nil {
		return s.obs, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	obs, err := s.js.CreateOrUpdateObjectStore(cctx, jetstream.ObjectStoreConfig{Bucket: Bucket,
		Description: "unyo agent release binaries by SHA-256", Replicas: max(s.o.Replicas, 1),
		Storage: jetstream.FileStorage})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	s.obs = obs
	return obs, nil
}

// AddRelease stores the verified binary at path (its SHA-256 and size
// computed by VerifyFile) and commits the release record.
func (s *Service) AddRelease(ctx context.Context, r Release, path, by string) error {
	if r.Size > s.o.MaxBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, r.Size, s.o.MaxBytes)
	}
	obs, err := s.store(ctx)
	if err != nil {
		return err
	}
	if _, err := obs.GetInfo(ctx, r.SHA256); err != nil {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		_, err = obs.Put(ctx, jetstream.ObjectMeta{Name: r.SHA256, Description: r.Version + " " + r.Platform}, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("rollout: store release: %w", err)
		}
	}
	return s.propose(ctx, Op{Kind: OpReleaseAdd, By: by, Release: &r})
}

func (s *Service) propose(ctx context.Context, op Op) error {
	err := s.o.Raft.ProposeFleet(ctx, op)
	res := "ok"
	if err != nil {
		res = "refused"
	}
	s.proposed.WithLabelValues(op.Kind, res).Inc()
	return err
}

// Propose commits an operator's op (release.set, rollout.pause, ...).
func (s *Service) Propose(ctx context.Context, op Op) error { return s.propose(ctx, op) }

// StartRollout starts a rollout of version to the agents of platform:
// every agent known (configured or reported), canaries drawn at random,
// the rest in random order.
func (s *Service) StartRollout(ctx context.Context, r Rollout, by string) (string, error) {
	if r.MaxConcurrent <= 0 {
		r.MaxConcurrent = s.o.MaxConcurrent
	}
	if r.Watch <= 0 {
		r.Watch = s.o.Watch
	}
	if r.Lease <= 0 {
		r.Lease = s.o.Lease
	}
	var agents []string
	s.o.Raft.FleetView(func(st *State) {
		for a, info := range st.Agents {
			if info.Platform == r.Platform || info.Platform == "" {
				agents = append(agents, a)
			}
		}
	})
	for a := range s.o.Known() {
		if !slices.Contains(agents, a) {
			agents = append(agents, a)
		}
	}
	if len(r.Order) > 0 {
		agents = slices.DeleteFunc(agents, func(a string) bool { return !slices.Contains(r.Order, a) })
	}
	if len(agents) == 0 {
		return "", ErrNoAgents
	}
	slices.Sort(agents)
	rand.Shuffle(len(agents), func(i, j int) { agents[i], agents[j] = agents[j], agents[i] })
	r.Order = agents
	if r.ID == "" {
		r.ID = fmt.Sprintf("r%s-%s", time.Now().UTC().Format("20060102T150405"), r.Version)
		if len(r.ID) > 64 {
			r.ID = r.ID[:64]
		}
	}
	return r.ID, s.propose(ctx, Op{Kind: OpRolloutStart, By: by, Rollout: &r})
}

// Move orders agents (a group, or all) to another cluster: with a
// group, the configured agents with that tag and the enrolled agents of
// that enrolment group; with all, every agent this cluster knows, has
// enrolled or has heard from.
func (s *Service) Move(ctx context.Context, to, trustKeys, group string, all bool, by string) ([]string, error) {
	if _, err := jobnet.ParsePublicKeys([]byte(trustKeys)); err != nil {
		return nil, fmt.Errorf("%w: trust keys: %w", errBadRequest, err)
	}
	var enrolled map[string]string
	if s.o.Enrolled != nil {
		var err error
		if enrolled, err = s.o.Enrolled(ctx); err != nil {
			return nil, fmt.Errorf("rollout: move: the agents' registry: %w", err)
		}
	}
	var reported []string
	if all {
		s.o.Raft.FleetView(func(st *State) {
			for a := range st.Agents {
				reported = append(reported, a)
			}
		})
	}
	agents := moveSelect(s.o.Known(), enrolled, reported, group, all)
	if len(agents) == 0 {
		return nil, ErrNoAgents
	}
	return agents, s.propose(ctx, Op{Kind: OpMoveStart, By: by, Agents: agents, Move: &Move{To: to, TrustKeys: trustKeys}})
}

// moveSelect picks the agents of a move, sorted, each once: with all,
// every configured (known), enrolled and reported agent; else the known
// agents tagged group and the enrolled agents of group.
func moveSelect(known map[string][]string, enrolled map[string]string, reported []string, group string, all bool) []string {
	pick := map[string]bool{}
	for a, tags := range known {
		if all || slices.Contains(tags, group) {
			pick[a] = true
		}
	}
	for a, g := range enrolled {
		if all || g == group {
			pick[a] = true
		}
	}
	if all {
		for _, a := range reported {
			pick[a] = true
		}
	}
	out := make([]string, 0, len(pick))
	for a := range pick {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// NotMoved is one agent left on this cluster.
type NotMoved struct {
	Agent    string    `json:"agent"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Reason   string    `json:"reason"`
}

// NotMoved lists the agents that have not moved away: those with a
// pending move, and every other agent this cluster knows.
func (s *Service) NotMoved() []NotMoved {
	var out []NotMoved
	have := map[string]bool{}
	s.o.Raft.FleetView(func(st *State) {
		for a, m := range st.Moves {
			have[a] = true
			if m.State == MoveMoved {
				continue
			}
			why := m.Reason
			if why == "" {
				why = "not seen since the move was ordered"
			}
			out = append(out, NotMoved{Agent: a, Reason: why})
		}
		for a := range st.Agents {
			if !have[a] {
				have[a] = true
				out = append(out, NotMoved{Agent: a, Reason: "no move ordered"})
			}
		}
	})
	for a := range s.o.Known() {
		if !have[a] {
			out = append(out, NotMoved{Agent: a, Reason: "no move ordered"})
		}
	}
	for i := range out {
		if t, ok := s.seen.Load(out[i].Agent); ok {
			out[i].LastSeen = t.(time.Time)
		}
	}
	slices.SortFunc(out, func(a, b NotMoved) int { return strings.Compare(a.Agent, b.Agent) })
	return out
}

// LastSeen is when this node last heard from each agent.
func (s *Service) LastSeen() map[string]time.Time {
	out := map[string]time.Time{}
	s.seen.Range(func(k, v any) bool { out[k.(string)] = v.(time.Time); return true })
	return out
}

// Decommission retires the cluster: refused while agents have not moved,
// unless waiver gives the reason.
func (s *Service) Decommission(ctx context.Context, waiver, by string) ([]NotMoved, error) {
	left := s.NotMoved()
	names := make([]string, len(left))
	for i, l := range left {
		names[i] = l.Agent
	}
	if len(left) > 0 && waiver == "" {
		return left, fmt.Errorf("%w: %d agents have not moved (unyo agents not-moved); give --waiver REASON to decommission anyway", ErrState, len(left))
	}
	return left, s.propose(ctx, Op{Kind: OpDecommission, By: by, Waiver: waiver, Left: names})
}

// onReport answers an agent's report with a signed directive, proposing
// what changed.
func (s *Service) onReport(ctx context.Context, m *nats.Msg) {
	name := strings.TrimPrefix(m.Subject, ReportSubject+".")
	r, err := DecodeReport(m.Data)
	if err == nil && r.Agent != name {
		err = fmt.Errorf("report for %q on %s's subject", r.Agent, name)
	}
	if err != nil {
		s.reports.WithLabelValues("refused").Inc()
		s.log.Warn("agent report refused", "subject", m.Subject, "err", err)
		_ = m.Respond(nil)
		return
	}
	s.reports.WithLabelValues("ok").Inc()
	s.seen.Store(name, time.Now().UTC())
	if r.State == ReportMoved && s.o.Moved != nil {
		s.o.Moved(ctx, name)
	}
	op := r.op()
	var changes bool
	s.o.Raft.FleetView(func(st *State) { changes = st.Changes(op) })
	if changes {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := s.propose(pctx, op); err != nil {
			s.log.Debug("agent report not committed", "agent", name, "err", err)
		}
		cancel()
	}
	d := s.directive(r)
	b, _ := json.Marshal(d)
	sig, err := s.o.Signer.SignMessage(DirectiveKind, b)
	if err != nil {
		return
	}
	_ = m.Respond(sig)
}

// directive is what the cluster tells agent r.Agent now.
func (s *Service) directive(r Report) Directive {
	now := time.Now().UTC()
	d := Directive{Agent: r.Agent, Issued: now, Expires: now.Add(s.o.DirectiveTTL), By: s.o.Node}
	s.o.Raft.FleetView(func(st *State) {
		platform := r.Platform
		if rel, ok := st.Newest(platform); ok {
			d.Mode, d.Message, d.Release = rel.Mode, rel.Message, rel.Version
		}
		if u, ok := st.Updates[r.Agent]; ok && u.Active() {
			ro := st.Rollouts[u.Rollout]
			rel, ok := st.Releases[ReleaseKey(u.To, ro.Platform)]
			if ok {
				d.Update = &UpdateOrder{Rollout: u.Rollout, Version: rel.Version, SHA256: rel.SHA256, Size: rel.Size,
					Signature: rel.Signature, Watch: ro.Watch, Full: ro.Full}
				d.Commit = u.State == StateWatching && r.Version == u.To
			}
		}
		if m, ok := st.Moves[r.Agent]; ok && m.State == MovePending {
			d.Move = &MoveOrder{To: m.To, TrustKeys: m.TrustKeys}
		}
		d.Decommissioned = st.Decom != nil
	})
	return d
}

// onChunk answers a chunk of a release binary from the local cache.
func (s *Service) onChunk(ctx context.Context, m *nats.Msg) {
	fail := func(err error) {
		msg := nats.NewMsg(m.Reply)
		msg.Header.Set("Unyo-Error", err.Error())
		_ = m.RespondMsg(msg)
	}
	var req ChunkRequest
	if len(m.Data) > 1024 || json.Unmarshal(m.Data, &req) != nil || !sha256RE.MatchString(req.SHA256) ||
		(!req.Manifest && (req.Offset < 0 || req.Length <= 0 || req.Length > ChunkSize)) {
		fail(errBadRequest)
		return
	}
	known := false
	s.o.Raft.FleetView(func(st *State) {
		for _, r := range st.Releases {
			known = known || r.SHA256 == req.SHA256
		}
	})
	if !known {
		fail(ErrNoRelease)
		return
	}
	path, err := s.cached(ctx, req.SHA256)
	if err != nil {
		s.log.Warn("release cache", "sha256", req.SHA256, "err", err)
		fail(err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	if req.Manifest {
		b, err := s.manifest(req.SHA256, f)
		if err != nil {
			fail(err)
			return
		}
		s.bytes.Add(float64(len(b)))
		_ = m.Respond(b)
		return
	}
	buf := make([]byte, req.Length)
	n, err := f.ReadAt(buf, req.Offset)
	if err != nil && !errors.Is(err, io.EOF) {
		fail(err)
		return
	}
	s.chunks.Inc()
	s.bytes.Add(float64(n))
	_ = m.Respond(buf[:n])
}

// manifest is the encoded content-defined chunk list of the release sha
// (whose cached binary f is), made once per release.
func (s *Service) manifest(sha string, f *os.File) ([]byte, error) {
	if b, ok := s.manifests.Load(sha); ok {
		return b.([]byte), nil
	}
	// One at a time: the agents of a wave ask at once.
	s.manifestMu.Lock()
	defer s.manifestMu.Unlock()
	if b, ok := s.manifests.Load(sha); ok {
		return b.([]byte), nil
	}
	m, err := cdc.Split(f, s.o.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("rollout: manifest of %s: %w", sha, err)
	}
	b := m.Encode()
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%w (%d bytes)", errManifestTooLarge, len(b))
	}
	s.manifests.Store(sha, b)
	return b, nil
}

// cached returns the path of the release binary sha in the node's cache,
// filling it from the object store (checked against its SHA-256) first.
func (s *Service) cached(ctx context.Context, sha string) (string, error) {
	path := filepath.Join(s.o.Dir, sha)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	obs, err := s.store(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.o.Dir, 0o700); err != nil {
		return "", err
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	rd, err := obs.Get(gctx, sha)
	if err != nil {
		return "", fmt.Errorf("rollout: release %s: %w", sha, err)
	}
	defer rd.Close()
	tmp, err := os.CreateTemp(s.o.Dir, ".fill-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rd, s.o.MaxBytes+1))
	if err = errors.Join(err, tmp.Sync(), tmp.Close()); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		return "", fmt.Errorf("rollout: release %s from the store has SHA-256 %s", sha, got)
	}
	return path, os.Rename(tmp.Name(), path)
}

// leaderLoop grants free slots and expires overdue ones while this node
// leads. The limit itself is enforced by State.Apply.
func (s *Service) leaderLoop(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.o.Raft.Changed():
		}
		var n int
		s.o.Raft.FleetView(func(st *State) { n = st.ActiveCount() })
		s.active.Set(float64(n))
		if !s.o.Raft.IsLeader() {
			continue
		}
		s.tick(ctx, time.Now())
	}
}

func (s *Service) tick(ctx context.Context, now time.Time) {
	var ops []Op
	s.o.Raft.FleetView(func(st *State) {
		r := st.Live()
		if r == nil {
			return
		}
		for _, a := range r.Order {
			if u := st.Updates[a]; u.Rollout == r.ID && u.Active() && !u.Deadline.IsZero() && !now.Before(u.Deadline) {
				ops = append(ops, Op{Kind: OpExpire, ID: r.ID, Agent: a})
			}
		}
		for _, a := range st.Grantable() {
			ops = append(ops, Op{Kind: OpGrant, ID: r.ID, Agent: a})
		}
	})
	for _, op := range ops {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.propose(pctx, op)
		cancel()
		if err != nil && !errors.Is(err, ErrState) && !errors.Is(err, ErrLimit) {
			s.log.Warn("rollout", "op", op.Kind, "agent", op.Agent, "err", err)
			return
		}
	}
}
