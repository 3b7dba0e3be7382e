package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// RestoreMarkerFile, in a node's Raft data directory, tells the next
// start that the directory was restored from a backup (`unyo restore`
// writes it) and how to treat the restored Raft state.
const RestoreMarkerFile = "restore-marker.json"

// Restore modes of a RestoreMarker.
const (
	// RestoreRejoin (the default): the node's restored Raft state is a
	// past copy. A member of a one-member cluster keeps it and carries
	// on. A member of a bigger cluster must not vote or campaign with it
	// (it may have forgotten votes it cast and entries it acknowledged
	// after the backup): the restored Raft log and snapshots are
	// discarded, bootstrap is suppressed, and the node joins a live
	// member (Options.Joining), which sends it the current state.
	RestoreRejoin = "rejoin"
	// RestoreNewCluster: every member of the cluster is lost. The
	// restored state becomes a new cluster of this node alone
	// (raft.RecoverCluster with a one-member configuration); the others
	// then join it with empty data directories.
	RestoreNewCluster = "new-cluster"
)

// RestoreMarker is the content of RestoreMarkerFile.
type RestoreMarker struct {
	Mode string `json:"mode"`
	// Backup and Node name the generation restored and the node it was
	// taken on (for the log).
	Backup string    `json:"backup,omitempty"`
	Node   string    `json:"node,omitempty"`
	At     time.Time `json:"at,omitzero"`
	// Wiped: a rejoining node has discarded its restored Raft state and
	// waits to be sent the cluster's; until then it must not bootstrap.
	Wiped bool `json:"wiped,omitempty"`
}

// ErrRestoredNeedsJoin refuses to start a node restored from a backup of
// a multi-member cluster that has nobody to rejoin.
var ErrRestoredNeedsJoin = errors.New("cluster: restored from a backup of a multi-member cluster: the node must rejoin a live member (set cluster.join and cluster.join_token) or, if every member is lost, be restored with `unyo restore --new-cluster`")

// WriteRestoreMarker writes m into the Raft data directory dir.
func WriteRestoreMarker(dir string, m RestoreMarker) error {
	switch m.Mode {
	case RestoreRejoin, RestoreNewCluster:
	default:
		return fmt.Errorf("cluster: restore marker: mode %q: want %s or %s", m.Mode, RestoreRejoin, RestoreNewCluster)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cluster: restore marker: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, RestoreMarkerFile), b)
}

// ReadRestoreMarker reads the marker in dir; ok is false without one.
func ReadRestoreMarker(dir string) (m RestoreMarker, ok bool, err error) {
	p := filepath.Join(dir, RestoreMarkerFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("cluster: %w", err)
	}
	if len(b) > 64<<10 {
		return m, false, fmt.Errorf("cluster: %s: too large", p)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, false, fmt.Errorf("cluster: %s: %w", p, err)
	}
	if m.Mode != RestoreRejoin && m.Mode != RestoreNewCluster {
		return m, false, fmt.Errorf("cluster: %s: mode %q: want %s or %s", p, m.Mode, RestoreRejoin, RestoreNewCluster)
	}
	return m, true, nil
}

func removeRestoreMarker(dir string) error {
	if err := os.Remove(filepath.Join(dir, RestoreMarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cluster: %w", err)
	}
	return syncDirPath(dir)
}

func syncDirPath(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// keyCurrentTerm is raft's stable-store key of the current term.
var keyCurrentTerm = []byte("CurrentTerm")

// applyRestoreMarker, in New with the log and snapshots open, acts on a
// restore marker: a rejoining member of a multi-member cluster discards
// its Raft state (and reopens empty storage); a new cluster is recovered
// in Start (n.recoverCluster), which needs the transport.
func (n *Node) applyRestoreMarker() error {
	dir := n.opts.DataDir
	m, ok, err := ReadRestoreMarker(dir)
	if err != nil || !ok {
		return err
	}
	n.restored = &m
	switch {
	case m.Mode == RestoreNewCluster:
		has, err := raft.HasExistingState(n.wal, n.wal, n.snaps)
		if err != nil {
			return fmt.Errorf("cluster: restore: %w", err)
		}
		if !has {
			return fmt.Errorf("cluster: restore --new-cluster: no Raft state in %s to recover from", dir)
		}
		n.log.Warn("restored data: recovering a lost cluster as a new cluster of this node alone", "backup", m.Backup, "from_node", m.Node)
		return nil
	case m.Wiped:
		// A restart after the wipe: joined once state arrived.
		has, err := raft.HasExistingState(n.wal, n.wal, n.snaps)
		if err != nil {
			return fmt.Errorf("cluster: restore: %w", err)
		}
		if has {
			n.log.Info("restored node has rejoined the cluster", "backup", m.Backup)
			n.restored = nil
			return removeRestoreMarker(dir)
		}
		if !n.opts.Joining {
			return ErrRestoredNeedsJoin
		}
		n.log.Warn("restored node still waits to be sent the cluster's state: not bootstrapping", "backup", m.Backup)
		return nil
	}
	servers, err := storedConfiguration(n.wal, n.snaps)
	if err != nil {
		return fmt.Errorf("cluster: restore: read the restored configuration: %w", err)
	}
	sole := true
	for _, s := range servers {
		if s.Suffrage == raft.Voter && s.ID != raft.ServerID(n.opts.NodeID) {
			sole = false
		}
	}
	if sole {
		// Nobody else holds a vote: the restored state is the cluster's.
		if err := n.raiseTerm(); err != nil {
			return err
		}
		n.log.Info("restored data of a one-member cluster: carrying on with it", "backup", m.Backup)
		n.restored = nil
		return removeRestoreMarker(dir)
	}
	if !n.opts.Joining {
		return fmt.Errorf("%w (the backup's cluster had %d members)", ErrRestoredNeedsJoin, len(servers))
	}
	// Discard the stale Raft state; keep the credential and secret key.
	if err := n.closeWAL(); err != nil {
		return fmt.Errorf("cluster: restore: close raft log: %w", err)
	}
	for _, d := range []string{"wal", "snapshots"} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return fmt.Errorf("cluster: restore: %w", err)
		}
	}
	if err := n.openStorage(); err != nil {
		return err
	}
	m.Wiped = true
	if err := WriteRestoreMarker(dir, m); err != nil {
		return err
	}
	n.restored = &m
	n.log.Warn("restored data of a multi-member cluster: discarded its Raft state, rejoining a live member", "backup", m.Backup, "members", len(servers))
	return nil
}

// recoverCluster makes the restored state a cluster of this node alone.
func (n *Node) recoverCluster(conf *raft.Config) error {
	self := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: conf.LocalID, Address: n.trans.LocalAddr()}}}
	if err := raft.RecoverCluster(conf, NewFSM(), n.wal, n.wal, n.snaps, n.trans, self); err != nil {
		return fmt.Errorf("cluster: recover a new cluster from the restored state: %w", err)
	}
	if err := n.raiseTerm(); err != nil {
		return err
	}
	n.restored = nil
	if err := removeRestoreMarker(n.opts.DataDir); err != nil {
		return err
	}
	n.log.Warn("recovered a new one-member cluster from the restored state; other nodes join it with empty data directories", "addr", n.Addr())
	return nil
}

// raiseTerm sets the stored current term to at least the last term in
// the log or the newest snapshot: a backup holds snapshots only, so the
// stable store restarts at term 0, and the next election must still
// win a term above every entry the node holds.
func (n *Node) raiseTerm() error {
	var last uint64
	if metas, err := n.snaps.List(); err == nil && len(metas) > 0 {
		last = metas[0].Term
	}
	if li, err := n.wal.LastIndex(); err == nil && li > 0 {
		var e raft.Log
		if err := n.wal.GetLog(li, &e); err == nil {
			last = max(last, e.Term)
		}
	}
	cur, err := n.wal.GetUint64(keyCurrentTerm)
	if err != nil && !strings.Contains(err.Error(), "not found") {
		return fmt.Errorf("cluster: restore: current term: %w", err)
	}
	if last > cur {
		if err := n.wal.SetUint64(keyCurrentTerm, last); err != nil {
			return fmt.Errorf("cluster: restore: raise term: %w", err)
		}
	}
	return nil
}

// storedConfiguration is the newest cluster configuration in a stopped
// node's storage: the last configuration entry in the log, else the
// newest snapshot's.
func storedConfiguration(logs raft.LogStore, snaps raft.SnapshotStore) ([]raft.Server, error) {
	var servers []raft.Server
	var from uint64
	metas, err := snaps.List()
	if err != nil {
		return nil, err
	}
	if len(metas) > 0 {
		servers, from = metas[0].Configuration.Servers, metas[0].Index
	}
	first, err := logs.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := logs.LastIndex()
	if err != nil {
		return nil, err
	}
	for i := max(first, from+1); last > 0 && i <= last; i++ {
		var e raft.Log
		if err := logs.GetLog(i, &e); err != nil {
			return nil, fmt.Errorf("log entry %d: %w", i, err)
		}
		if e.Type == raft.LogConfiguration {
			servers = raft.DecodeConfiguration(e.Data).Servers
		}
	}
	return servers, nil
}

// BackupSnapshot prepares a consistent copy of the Raft state: it takes
// a snapshot now (the FSM as of the last applied entry) and returns the
// id of the newest snapshot, the one a backup copies. The Raft log is
// left out of a backup (it changes while being copied; everything
// committed is in the snapshot): see BackupSkip.
func (n *Node) BackupSnapshot(ctx context.Context) (string, error) {
	r, err := n.running()
	if err != nil {
		return "", err
	}
	if err := waitFuture(ctx, r.Snapshot()); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return "", fmt.Errorf("cluster: snapshot for backup: %w", err)
	}
	metas, err := n.snaps.List()
	if err != nil {
		return "", fmt.Errorf("cluster: snapshot for backup: %w", err)
	}
	if len(metas) == 0 {
		return "", fmt.Errorf("cluster: snapshot for backup: no snapshot")
	}
	return metas[0].ID, nil
}

// BackupSkip tells whether the file at rel (slash separated, relative to
// the Raft data directory) stays out of a backup that copies snapshot
// snapID: the log and stable store (wal/), other snapshots, temporaries
// and a restore marker.
func BackupSkip(rel, snapID string) bool {
	switch {
	case rel == "wal" || strings.HasPrefix(rel, "wal/"), rel == RestoreMarkerFile:
		return true
	case strings.HasPrefix(rel, "snapshots/"):
		id, _, _ := strings.Cut(strings.TrimPrefix(rel, "snapshots/"), "/")
		return id != snapID
	}
	return false
}

// StateInfo describes Raft state checked by CheckState.
type StateInfo struct {
	Snapshot string
	Index    uint64
	Term     uint64
	Servers  []string
}

// CheckState proves the Raft state in dir (a restored or scratch Raft
// data directory) usable: the newest snapshot is read in full (its
// CRC-64 checked by the snapshot store), restored into a fresh FSM, and
// its configuration named; entries in a log beside it (backups before
// snapshot-only copies) must be readable.
func CheckState(ctx context.Context, dir string) (StateInfo, error) {
	var info StateInfo
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, newHCLogger(slog.New(slog.DiscardHandler), "raft-snapshot"))
	if err != nil {
		return info, fmt.Errorf("cluster: raft state in %s: %w", dir, err)
	}
	metas, err := snaps.List()
	if err != nil {
		return info, fmt.Errorf("cluster: raft state in %s: %w", dir, err)
	}
	if len(metas) > 0 {
		meta, rc, err := snaps.Open(metas[0].ID)
		if err != nil {
			return info, fmt.Errorf("cluster: raft snapshot %s: %w", metas[0].ID, err)
		}
		err = NewFSM().Restore(io.NopCloser(rc))
		rc.Close()
		if err != nil {
			return info, fmt.Errorf("cluster: raft snapshot %s: restore: %w", meta.ID, err)
		}
		info.Snapshot, info.Index, info.Term = meta.ID, meta.Index, meta.Term
		for _, s := range meta.Configuration.Servers {
			info.Servers = append(info.Servers, string(s.ID))
		}
	}
	if err := ctx.Err(); err != nil {
		return info, err
	}
	walDir := filepath.Join(dir, "wal")
	if _, err := os.Stat(walDir); err == nil {
		meta := &metadb.BoltMetaDB{}
		w, err := wal.Open(walDir, wal.WithMetaStore(meta))
		if err != nil {
			_ = meta.Close()
			return info, fmt.Errorf("cluster: raft log %s: %w", walDir, err)
		}
		defer func() { _ = w.Close(); _ = meta.Close() }()
		first, _ := w.FirstIndex()
		last, err := w.LastIndex()
		if err != nil {
			return info, fmt.Errorf("cluster: raft log %s: %w", walDir, err)
		}
		for i := max(first, info.Index+1); last > 0 && i <= last; i++ {
			var e raft.Log
			if err := w.GetLog(i, &e); err != nil {
				return info, fmt.Errorf("cluster: raft log %s: entry %d: %w", walDir, i, err)
			}
			info.Index, info.Term = e.Index, e.Term
		}
	}
	if info.Index == 0 {
		return info, fmt.Errorf("cluster: no raft state in %s (no snapshot, no log)", dir)
	}
	return info, nil
}
