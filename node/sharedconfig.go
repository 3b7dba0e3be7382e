package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/secretbox"
)

// Shared configuration. The sections every member must agree on — monitor,
// alerting, jobnets — are replicated through Raft as the cluster's active
// configuration (version, hash, bytes). The first leader seeds it with its
// own file; `unyo config apply FILE` (POST /v1/cluster/config on any
// member, forwarded to the leader) replaces it with a new version. Every
// member follows it: it takes those sections from the replicated file and
// keeps its own node, http, nats, ledger, pipeline, cluster and log
// sections, then reloads (see Reload: the monitor and the jobnets change at
// once; alerting changes are logged as needing a restart). The member that
// took a `config apply` answers with what it did (ConfigApplied). A node
// that joins gets the active configuration from the log or a snapshot.
//
// What goes into the Raft log is configs.SealShared of the file: the shared
// sections only (the lines of the others blanked), every secret written in
// clear sealed ("enc:v1:...") under the cluster secret key, the file
// <cluster data dir>/secret.key that the bootstrapping node creates and a
// join hands to each member (package internal/secretbox). Secrets given by
// reference (${env:NAME}, file:PATH) stay references, resolved on each
// member. So no Raft log segment or snapshot holds a secret in clear.

// ConfigPath is where a new shared configuration is posted (YAML body).
const ConfigPath = "/v1/cluster/config"

// ConfigApplyWait bounds how long POST ConfigPath waits for the member to
// apply the version it committed before answering "pending".
var ConfigApplyWait = 10 * time.Second

// ConfigApplied is the answer of ConfigPath: the version committed, and
// what the member that took the request did with it (every member applies
// it the same way; each logs its own outcome).
type ConfigApplied struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"`
	// Node is the member whose outcome this is.
	Node string `json:"node,omitempty"`
	// Unchanged: the shared sections are what the member runs already.
	Unchanged bool `json:"unchanged,omitempty"`
	// Pending: the member had not applied the version when the answer
	// was due (it will; see its log).
	Pending bool `json:"pending,omitempty"`
	ReloadResult
}

// NotApplied reports whether a part of the configuration is not in effect
// on the member: waiting for a restart, failed, or not applied yet.
func (a ConfigApplied) NotApplied() bool {
	return a.Pending || len(a.Restart) > 0 || len(a.Failed) > 0
}

// sharedOutcome is what this member did with a shared config version.
type sharedOutcome struct {
	version   int64
	unchanged bool
	res       ReloadResult
}

// sharedState is the last shared config version this member handled;
// changed is closed and replaced at each.
type sharedState struct {
	sharedMu      sync.Mutex
	sharedLast    sharedOutcome
	sharedChanged chan struct{}
}

func (n *Node) sharedDone(o sharedOutcome) {
	n.sharedMu.Lock()
	defer n.sharedMu.Unlock()
	if o.version < n.sharedLast.version {
		return
	}
	n.sharedLast = o
	if n.sharedChanged != nil {
		close(n.sharedChanged)
	}
	n.sharedChanged = make(chan struct{})
}

// waitShared waits until this member has handled version (or a later
// one): false when ctx ends first.
func (n *Node) waitShared(ctx context.Context, version int64) (sharedOutcome, bool) {
	for {
		n.sharedMu.Lock()
		last := n.sharedLast
		if n.sharedChanged == nil {
			n.sharedChanged = make(chan struct{})
		}
		ch := n.sharedChanged
		n.sharedMu.Unlock()
		if last.version >= version {
			return last, true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return sharedOutcome{}, false
		}
	}
}

// seedConfig makes this leader's file the cluster's first active config.
func (n *Node) seedConfig(ctx context.Context) {
	c := n.currentConfig()
	if c == nil || c.Source == "" || n.raft.Config().Version > 0 {
		return
	}
	data, err := os.ReadFile(c.Source)
	if err != nil {
		n.log.Warn("seed shared config", "err", err)
		return
	}
	data, err = configs.SealShared(c.Source, data, configs.ParseOptions{SecretKey: n.createSecretKey})
	if err != nil {
		n.log.Warn("seed shared config: not replicated", "err", err)
		return
	}
	if _, err := n.raft.SetConfig(ctx, 1, data); err != nil && !errors.Is(err, cluster.ErrStaleConfig) {
		n.log.Warn("seed shared config", "err", err)
	}
}

// followConfig applies each new active configuration on this member.
func (n *Node) followConfig(ctx context.Context) {
	applied := ""
	if c := n.currentConfig(); c != nil {
		applied = c.Hash
	}
	// A joiner applies no shared config before it holds the cluster
	// secret key (from the join answer): secrets in it are encrypted
	// under that key.
	select {
	case <-n.keyReady:
	case <-ctx.Done():
		return
	}
	// At a restart the log is replayed: each older version would be
	// applied in turn (and an alerting change undone and redone, each
	// logged as needing a restart). Wait until the log this member had at
	// start is applied, then take the latest version.
	var replayed uint64
	if r := n.raft.Raft(); r != nil {
		replayed = r.LastIndex()
	}
	var stillPending ReloadResult // of the last version applied
	for ac := range n.raft.WatchConfig(ctx) {
		if replayed > 0 {
			n.waitApplied(ctx, replayed, ReplayWait)
			replayed = 0
			ac = n.raft.Config()
		}
		if ac.Version == 0 {
			continue
		}
		if ac.Hash == applied {
			// The same file again: what waits for a restart still does.
			pending := ReloadResult{Restart: stillPending.Restart, Failed: stillPending.Failed}
			n.sharedDone(sharedOutcome{version: ac.Version, unchanged: len(pending.Restart)+len(pending.Failed) == 0, res: pending})
			continue
		}
		merged, err := n.mergeShared(ac.Data)
		if err != nil {
			n.log.Error("shared config not applied", "version", ac.Version, "err", err)
			n.sharedDone(sharedOutcome{version: ac.Version, res: ReloadResult{Failed: []string{err.Error()}}})
			continue
		}
		applied = ac.Hash
		n.saveShared(ac.Data)
		if cur := n.currentConfig(); cur != nil && sameShared(cur, merged) {
			// The replicated file is sealed, so its hash never matches the
			// node's own; what it says may still be what the node runs.
			n.log.Info("shared config unchanged", "version", ac.Version, "hash", ac.Hash)
			stillPending = ReloadResult{}
			n.sharedDone(sharedOutcome{version: ac.Version, unchanged: true})
			continue
		}
		res, err := n.ReloadReport(ctx, merged)
		stillPending = res
		n.log.Info("shared config applied", "version", ac.Version, "hash", ac.Hash, "by", ac.AppliedBy,
			"applied", res.Applied, "restart", res.Restart, "err", err)
		n.sharedDone(sharedOutcome{version: ac.Version, res: res})
	}
}

// ReplayWait bounds how long a starting member waits for its log to be
// applied before it applies the shared configuration it has.
var ReplayWait = 30 * time.Second

// waitApplied waits until the FSM has applied index, ctx ends or max has
// passed (entries a new leader drops are never applied).
func (n *Node) waitApplied(ctx context.Context, index uint64, max time.Duration) {
	deadline := time.Now().Add(max)
	// Raft's own applied index: index is its LastIndex, which counts the
	// entries the FSM never sees (no-ops, membership changes) too.
	applied := n.raft.AppliedIndex
	if r := n.raft.Raft(); r != nil {
		applied = r.AppliedIndex
	}
	for applied() < index && ctx.Err() == nil && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// mergeShared parses a shared config and returns this node's config with
// the shared sections replaced.
func (n *Node) mergeShared(data []byte) (*configs.Config, error) {
	return mergeSharedInto(n.currentConfig(), data, n.secretKey)
}

func mergeSharedInto(own *configs.Config, data []byte, key func() ([]byte, error)) (*configs.Config, error) {
	name := "cluster-config.yaml"
	if own != nil && own.Source != "" {
		name = filepath.Join(filepath.Dir(own.Source), name)
	}
	shared, err := configs.ParseWith(name, data, configs.ParseOptions{SecretKey: key})
	if err != nil {
		return nil, err
	}
	merged := *shared
	if own != nil {
		merged = *own
		merged.Monitor, merged.Alerting, merged.Jobnets = shared.Monitor, shared.Alerting, shared.Jobnets
		merged.Hash, merged.Source = shared.Hash, own.Source
	}
	return &merged, nil
}

// SharedCacheFile, in the cluster data directory, holds the replicated
// configuration this member last applied, as replicated (secrets sealed).
const SharedCacheFile = "shared-config.yaml"

// saveShared keeps the replicated configuration this member applied, for
// its next start.
func (n *Node) saveShared(data []byte) {
	if n.opts.Cluster.DataDir == "" {
		return
	}
	path := filepath.Join(n.opts.Cluster.DataDir, SharedCacheFile)
	tmp := path + ".tmp"
	err := os.WriteFile(tmp, data, 0o600)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		n.log.Warn("keep the shared config for the next start", "err", err)
	}
}

// StartupConfig is what a member starts with: its own file, with the
// shared sections (monitor, alerting, jobnets) of the replicated
// configuration it last applied, kept in <node.data_dir>/raft/
// (SharedCacheFile). So what `config apply` changed that needs a restart
// (alerting) is in effect after the restart, instead of the file's older
// sections coming back until the replicated ones are applied again. With
// no such file, or one that does not load (it is logged), cfg as it is.
func StartupConfig(cfg *configs.Config, log *slog.Logger) *configs.Config {
	dir := filepath.Join(cfg.Node.DataDir, "raft")
	data, err := os.ReadFile(filepath.Join(dir, SharedCacheFile))
	if err != nil {
		return cfg
	}
	key := func() ([]byte, error) { return secretbox.LoadKey(filepath.Join(dir, secretbox.KeyFile)) }
	merged, err := mergeSharedInto(cfg, data, key)
	if err != nil {
		if log != nil {
			log.Warn("the cluster's shared config kept from the last run does not load; starting with the file's", "err", err)
		}
		return cfg
	}
	if log != nil && !sameShared(cfg, merged) {
		log.Info("starting with the cluster's shared config (monitor, alerting, jobnets) last applied, not the file's",
			"file", cfg.Source, "shared", filepath.Join(dir, SharedCacheFile))
	}
	return merged
}

// configHandler validates a posted config and makes it the next version.
func (n *Node) configHandler(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > cluster.MaxConfigSize {
		w.Header().Set("Connection", "close")
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("config of %d bytes: at most %d", r.ContentLength, cluster.MaxConfigSize))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, cluster.MaxConfigSize))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeErr(w, http.StatusRequestEntityTooLarge, fmt.Errorf("config: at most %d bytes", cluster.MaxConfigSize))
			return
		}
		writeErr(w, http.StatusBadRequest, fmt.Errorf("config: %w", err))
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "<posted config>"
	}
	// References (file:) resolve where they will: next to this node's file.
	opts := configs.ParseOptions{SecretKey: n.secretKey}
	if own := n.currentConfig(); own != nil && own.Source != "" {
		opts.Dir = filepath.Dir(own.Source)
	}
	if _, err := configs.ParseWith(name, data, opts); err != nil {
		writeErr(w, http.StatusBadRequest, err)
		return
	}
	data, err = configs.SealShared(name, data, opts)
	if err != nil {
		// The file parsed: what failed is the key (a member that joined
		// without being given it).
		writeErr(w, http.StatusServiceUnavailable, fmt.Errorf("cannot seal the config's secrets: %w", err))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	for range 5 {
		next := n.raft.Config().Version + 1
		_, err = n.raft.SetConfigBy(ctx, next, data, auth.FromRequest(r).Actor())
		if errors.Is(err, cluster.ErrStaleConfig) {
			continue // another apply won the race; take the next version
		}
		if err != nil {
			writeErr(w, http.StatusServiceUnavailable, err)
			return
		}
		out := ConfigApplied{Version: next, Hash: cluster.ConfigHash(data), Node: n.opts.Name}
		// Answer with what this member did with it (bounded: a member that
		// is slow to apply answers "pending").
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(r.Context()), ConfigApplyWait)
		o, ok := n.waitShared(wctx, next)
		wcancel()
		switch {
		case !ok:
			out.Pending = true
		case o.version > next:
			// A later version came first; what this one did is in the log.
			out.Pending = true
		default:
			out.Unchanged, out.ReloadResult = o.unchanged, o.res
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	writeErr(w, http.StatusConflict, fmt.Errorf("config version raced five times: %w", err))
}

// secretKeyPath is the cluster secret key's file.
func (n *Node) secretKeyPath() string {
	return filepath.Join(n.opts.Cluster.DataDir, secretbox.KeyFile)
}

// secretKey reads the cluster secret key (each time: a join may write it
// after the node started).
func (n *Node) secretKey() ([]byte, error) {
	if n.opts.Cluster.DataDir == "" {
		return nil, secretbox.ErrNoKey
	}
	return secretbox.LoadKey(n.secretKeyPath())
}

// createSecretKey reads the cluster secret key, creating it if missing;
// only the node that seeds the cluster's configuration does.
func (n *Node) createSecretKey() ([]byte, error) {
	if n.opts.Cluster.DataDir == "" {
		return nil, secretbox.ErrNoKey
	}
	return secretbox.LoadOrCreateKey(n.secretKeyPath())
}

// sameShared reports whether a and b agree on the shared sections.
func sameShared(a, b *configs.Config) bool {
	return reflect.DeepEqual(a.Monitor, b.Monitor) && reflect.DeepEqual(a.Alerting, b.Alerting) &&
		reflect.DeepEqual(a.Jobnets, b.Jobnets)
}

func writeErr(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
