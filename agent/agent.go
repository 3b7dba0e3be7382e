package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/agent/ops"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/rotate"
)

// EnrollOptions are `unyo agent enroll`'s.
type EnrollOptions struct {
	Dir     string
	Server  string // the node's URL
	Token   string
	Group   string
	Name    string // default: the host name
	Kind    agents.Kind
	Version string
	Slots   int
	TLS     *tls.Config
	// HostID overrides /etc/machine-id (tests: several agents on one host).
	HostID string
	// Tags are the agent's tags (run_on.tag): single words.
	Tags []string
}

// Enroll makes the agent's keys, enrols it with the server and keeps the
// answer in the state directory.
func Enroll(ctx context.Context, o EnrollOptions) (State, error) {
	kp, key, err := keys(o.Dir)
	if err != nil {
		return State{}, fmt.Errorf("agent: state directory %s: %w", o.Dir, err)
	}
	pub, _ := kp.PublicKey()
	host, _ := os.Hostname()
	if o.Name == "" {
		o.Name = sanitize(host)
	}
	if o.Kind == "" {
		o.Kind = agents.KindResident
	}
	hostID := o.HostID
	if hostID == "" {
		hostID = inventory.HostID()
	}
	req := agents.EnrollRequest{Name: o.Name, HostID: hostID, Hostname: host, Group: o.Group, Kind: o.Kind,
		Version: o.Version, NKey: pub, SignKey: hex.EncodeToString(key.Public().(ed25519.PublicKey)), Slots: o.Slots, Tags: o.Tags}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.Server, "/")+"/api/v1/agents/enroll", bytes.NewReader(body))
	if err != nil {
		return State{}, err
	}
	hr.Header.Set("Authorization", "Bearer "+o.Token)
	hr.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 30 * time.Second}
	if o.TLS != nil {
		hc.Transport = &http.Transport{TLSClientConfig: o.TLS}
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return State{}, fmt.Errorf("agent: enrol: %w", err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(rb, &e)
		return State{}, fmt.Errorf("agent: enrol: %s: %s", resp.Status, e.Error)
	}
	var er agents.EnrollResponse
	if err := json.Unmarshal(rb, &er); err != nil {
		return State{}, fmt.Errorf("agent: enrol: answer: %w", err)
	}
	if _, err := jobnet.ParsePublicKeys([]byte(er.TrustPEM)); err != nil {
		return State{}, fmt.Errorf("agent: enrol: trusted keys: %w", err)
	}
	if err := writeSecret(o.Dir, trustFile, []byte(er.TrustPEM)); err != nil {
		return State{}, err
	}
	st := State{Name: er.Name, Group: er.Group, Kind: string(o.Kind), Server: o.Server, Home: er.Home, NATS: er.NATS,
		Heartbeat: er.Heartbeat, Inventory: er.Inventory, Enrolled: time.Now().UTC(), Tags: er.Tags}
	return st, saveState(o.Dir, st)
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, strings.SplitN(s, ".", 2)[0])
	s = strings.Trim(s, "-_")
	if s == "" {
		s = "agent"
	}
	return s[:min(len(s), 63)]
}

// Options are `unyo agent run` and `once`'s.
type Options struct {
	Dir     string
	Version string
	// PackagesCommand lists packages (inventory.Options).
	PackagesCommand []string
	// HostID overrides /etc/machine-id.
	HostID string
	// FileRoots bound remote file search and view.
	FileRoots []string
	// Logs are the files to tail.
	Logs []LogFile
	// Parallel job slots.
	Parallel int
	// Heartbeat overrides the enrolment's interval (tests).
	Heartbeat time.Duration
	// InventoryEvery overrides the enrolment's interval.
	InventoryEvery time.Duration
	// ReleaseKey verifies release binaries (nil: updates are refused and
	// reported failed); ReportEvery is the update report interval
	// (default DefaultReportEvery). See update.go.
	ReleaseKey  *minisign.PublicKey
	ReportEvery time.Duration
	TLS         *tls.Config
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
}

// LogFile is a monitored file.
type LogFile struct {
	Path string
	App  string
}

// Agent is a running enrolled agent.
type Agent struct {
	o     Options
	st    State
	nc    *nats.Conn
	key   ed25519.PrivateKey
	trust *jobnet.Verifier
	log   *slog.Logger
	used  atomic.Int64
	// retag takes new tags (see noteTags).
	retag   chan struct{}
	stateMu sync.Mutex
	// natsOpts are the connection's options (credentials, inbox): a move
	// confirms with the new home with them.
	natsOpts []nats.Option
	// moved is signalled once the updater re-homed the agent.
	moved chan struct{}
}

// Open connects the enrolled agent in o.Dir.
func Open(ctx context.Context, o Options) (*Agent, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	st, err := LoadState(o.Dir)
	if err != nil {
		return nil, err
	}
	kp, key, err := keys(o.Dir)
	if err != nil {
		return nil, err
	}
	tb, err := os.ReadFile(filepath.Join(o.Dir, trustFile))
	if err != nil {
		return nil, err
	}
	// A re-homed agent (see confirmNewHome) connects to its new home,
	// whose keys it trusts instead.
	home, err := rollout.ReadHome(o.Dir)
	if err != nil {
		return nil, err
	}
	if home != nil {
		st.NATS, tb = home.NATS, []byte(home.TrustKeys)
	}
	tk, err := jobnet.ParsePublicKeys(tb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", trustFile, err)
	}
	pub, _ := kp.PublicKey()
	log := o.Logger.With("agent", st.Name)
	opts := []nats.Option{nats.Name("unyo-agent-" + st.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(5 * time.Second), nats.CustomInboxPrefix(bus.AgentInboxPrefix(st.Name)),
		nats.Nkey(pub, kp.Sign),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Error("nats", "err", err) })}
	if o.TLS != nil {
		opts = append(opts, nats.Secure(o.TLS))
	}
	nc, err := nats.Connect(st.NATS, opts...)
	if err != nil {
		return nil, fmt.Errorf("agent %s: connect %s: %w", st.Name, st.NATS, err)
	}
	return &Agent{o: o, st: st, nc: nc, key: key, trust: jobnet.NewVerifier(tk...), log: log, retag: make(chan struct{}, 1),
		natsOpts: opts, moved: make(chan struct{}, 1)}, nil
}

// Close disconnects.
func (a *Agent) Close() { a.nc.Close() }

// Name is the agent's name.
func (a *Agent) Name() string { return a.st.Name }

func (a *Agent) beat() {
	b, _ := json.Marshal(agents.Beat{Version: a.o.Version, Kind: agents.Kind(a.st.Kind), Slots: a.o.Parallel,
		SlotsUsed: int(a.used.Load()), Interval: a.heartbeat()})
	_ = a.nc.Publish(bus.AgentBeatSubject+"."+a.st.Name, b)
}

func (a *Agent) heartbeat() time.Duration {
	switch {
	case a.o.Heartbeat > 0:
		return a.o.Heartbeat
	case a.st.Heartbeat > 0:
		return a.st.Heartbeat
	}
	return agents.DefaultHeartbeat
}

// SendInventory collects and sends the inventory; it returns the
// changes the node recorded.
func (a *Agent) SendInventory(ctx context.Context) (int, error) {
	inv, err := inventory.Collect(ctx, inventory.Options{PackagesCommand: a.o.PackagesCommand, HostID: a.o.HostID})
	if err != nil {
		return 0, err
	}
	b, err := json.Marshal(inv)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	m, err := a.nc.RequestWithContext(rctx, bus.AgentInventorySubject+"."+a.st.Name, b)
	if err != nil {
		return 0, fmt.Errorf("agent: send inventory (%d bytes): %w", len(b), err)
	}
	var ack agents.Ack
	if err := json.Unmarshal(m.Data, &ack); err != nil || !ack.OK {
		return 0, fmt.Errorf("agent: inventory refused: %s", ack.Error)
	}
	a.log.Info("inventory sent", "bytes", len(b), "changes", ack.Changes)
	if ack.Tags != nil {
		a.noteTags(*ack.Tags)
	}
	return ack.Changes, nil
}

// Run serves until ctx ends: heartbeats, inventories, log files, remote
// operations and the job network's tasks.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ts, err := a.nc.Subscribe(bus.AgentTagsSubject+"."+a.st.Name, func(m *nats.Msg) {
		var n agents.TagsNotice
		if len(m.Data) <= 16<<10 && json.Unmarshal(m.Data, &n) == nil {
			a.noteTags(n.Tags)
		}
	})
	if err != nil {
		return err
	}
	defer ts.Unsubscribe()
	h := &ops.Handler{Name: a.st.Name, Trust: a.trust, Roots: a.o.FileRoots, PackagesCommand: a.o.PackagesCommand}
	sub, err := a.nc.Subscribe(bus.AgentOpSubject+"."+a.st.Name, func(m *nats.Msg) {
		go func() {
			res := h.Handle(ctx, m.Data)
			if res.Refused {
				a.log.Warn("operation refused", "err", res.Error)
			}
			b, _ := json.Marshal(res)
			_ = m.Respond(b)
		}()
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	a.beat()
	if _, err := a.SendInventory(ctx); err != nil {
		a.log.Warn("inventory", "err", err)
	}
	done := make(chan struct{})
	if len(a.o.Logs) > 0 {
		go func() { defer close(done); a.tail(ctx) }()
	} else {
		close(done)
	}
	gate, udone := a.startUpdater(ctx)
	ja := &jobnet.Agent{Name: a.st.Name, Tags: a.Tags(), NC: a.nc, Trust: a.trust, Parallel: a.o.Parallel, Logger: a.log, Registerer: a.o.Registerer,
		Gate: gate, Exec: rotate.AgentExec(a.nc, a.st.Name)}
	jdone := make(chan struct{})
	go func() {
		defer close(jdone)
		if err := ja.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("job agent stopped", "err", err)
		}
	}()
	inv := a.o.InventoryEvery
	if inv <= 0 {
		inv = a.st.Inventory
	}
	if inv <= 0 {
		inv = time.Hour
	}
	bt, it := time.NewTicker(a.heartbeat()), time.NewTicker(inv)
	defer bt.Stop()
	defer it.Stop()
	a.log.Info("agent running", "nats", a.st.NATS, "heartbeat", a.heartbeat(), "inventory", inv, "logs", len(a.o.Logs),
		"tags", a.Tags())
	for {
		select {
		case <-ctx.Done():
			<-done
			<-jdone
			<-udone
			return nil
		case <-a.retag:
			// The tags decide the agent's NATS permissions (at connection)
			// and its job consumers: both are made anew by a restart.
			a.log.Info("tags changed: restarting to take them", "tags", a.Tags())
			cancel()
			<-done
			<-jdone
			<-udone
			return ErrTagsChanged
		case <-a.moved:
			a.log.Info("moved to a new home: restarting there")
			cancel()
			<-done
			<-jdone
			<-udone
			return rollout.ErrMoved
		case <-bt.C:
			a.beat()
		case <-it.C:
			if _, err := a.SendInventory(ctx); err != nil {
				a.log.Warn("inventory", "err", err)
			}
		}
	}
}

// Once reports once (heartbeat, inventory, the log lines waiting) and
// returns: the on-demand agent.
func (a *Agent) Once(ctx context.Context) error {
	a.beat()
	if _, err := a.SendInventory(ctx); err != nil {
		return err
	}
	if len(a.o.Logs) > 0 {
		a.tailOnce(ctx)
	}
	return a.nc.FlushWithContext(ctx)
}

// Collect writes the standalone server's signed inventory file.
func Collect(ctx context.Context, dir, name, group, version, out string, o inventory.Options) error {
	_, key, err := keys(dir)
	if err != nil {
		return err
	}
	inv, err := inventory.Collect(ctx, o)
	if err != nil {
		return err
	}
	data, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	if name == "" {
		name = sanitize(inv.Hostname)
	}
	f := agents.CollectFile{Name: name, Group: group, Version: version, SignKey: hex.EncodeToString(key.Public().(ed25519.PublicKey)),
		Inventory: data, Sig: ed25519.Sign(key, append([]byte(agents.CollectContext), data...))}
	b, _ := json.MarshalIndent(f, "", " ")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return err
	}
	return nil
}

// ErrTagsChanged is returned by Run when the node changed the agent's
// tags (saved in the state directory): the agent must restart (a new
// connection, new job consumers) to take them.
var ErrTagsChanged = errors.New("agent: tags changed")

// Tags are the agent's tags.
func (a *Agent) Tags() []string {
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	return slices.Clone(a.st.Tags)
}

// noteTags takes the tags the node says the agent has: when they differ
// from its own, it saves them and has Run return ErrTagsChanged.
func (a *Agent) noteTags(tags []string) {
	tags = slices.Compact(slices.Sorted(slices.Values(tags)))
	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	if slices.Equal(tags, slices.Compact(slices.Sorted(slices.Values(a.st.Tags)))) {
		return
	}
	if err := agents.CheckTags(tags); err != nil {
		a.log.Warn("tags from the node refused", "tags", tags, "err", err)
		return
	}
	st := a.st
	st.Tags = tags
	if err := saveState(a.o.Dir, st); err != nil {
		a.log.Error("new tags not saved", "tags", tags, "err", err)
		return
	}
	a.st.Tags = tags
	select {
	case a.retag <- struct{}{}:
	default:
	}
}
