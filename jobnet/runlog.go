package jobnet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// RunLog is where run state is committed before anything acts on it: a
// run's identity (jobnet, scheduled time) before its jobs are dispatched,
// a job's start before the executor gets it, every end, retry wait and
// operator action. Its production implementation is the cluster's Raft
// log (ClusterLog); FileLog is a single-node log for a node without a
// cluster and for tests.
type RunLog interface {
	// Propose commits op (at the proposer's time now) and returns once it
	// is applied, or the state machine's rejection (runstate.ErrFired,
	// runstate.ErrState, ...).
	Propose(ctx context.Context, op runstate.Op) error
	// View calls fn with the current state under a read lock; fn must
	// neither keep nor change it.
	View(fn func(st *runstate.State))
	// Changed is closed at the next change.
	Changed() <-chan struct{}
	// Leader reports whether this node may schedule (only one may).
	Leader() bool
	// Barrier waits until everything committed before it is applied
	// here; a new leader calls it before it schedules.
	Barrier(ctx context.Context) error
}

// --- cluster ---

// ClusterLog is the RunLog on the cluster's Raft log: ops are the
// cluster.CmdJobnetOp command, applied by every member's FSM.
type ClusterLog struct{ Node *cluster.Node }

var _ RunLog = ClusterLog{}

// Propose implements RunLog.
func (c ClusterLog) Propose(ctx context.Context, op runstate.Op) error {
	return c.Node.ProposeJobnet(ctx, op)
}

// View implements RunLog.
func (c ClusterLog) View(fn func(*runstate.State)) { c.Node.JobnetView(fn) }

// Changed implements RunLog.
func (c ClusterLog) Changed() <-chan struct{} { return c.Node.Changed() }

// Leader implements RunLog.
func (c ClusterLog) Leader() bool { return c.Node.IsLeader() }

// Barrier implements RunLog.
func (c ClusterLog) Barrier(ctx context.Context) error { return c.Node.Barrier(ctx) }

// --- single node ---

// FileLog is a single-node RunLog: the state in memory, every op
// appended to a file (fsynced) before it is applied, replayed on open.
// With an empty path it keeps nothing on disk (tests).
type FileLog struct {
	mu      sync.RWMutex
	st      *runstate.State
	f       *os.File
	lines   int
	path    string
	now     func() time.Time
	chMu    sync.Mutex
	changed chan struct{}
}

type logLine struct {
	At time.Time   `json:"at"`
	Op runstate.Op `json:"op"`
}

// compactAfter is how many appended ops trigger a rewrite of the file
// as one snapshot line.
const compactAfter = 20000

// OpenFileLog opens (creating) the log at path and replays it.
func OpenFileLog(path string, now func() time.Time) (*FileLog, error) {
	if now == nil {
		now = time.Now
	}
	l := &FileLog{st: runstate.New(), path: path, now: now, changed: make(chan struct{})}
	if path == "" {
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("jobnet: run log: %w", err)
	}
	if data, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Bytes()
			if len(line) == 0 {
				continue
			}
			if n == 1 && line[0] == '{' && json.Valid(line) && isSnapshot(line) {
				var snap struct{ Snapshot *runstate.State }
				if err := json.Unmarshal(line, &snap); err != nil {
					return nil, fmt.Errorf("jobnet: run log %s:%d: %w", path, n, err)
				}
				l.st = snap.Snapshot
				continue
			}
			var ll logLine
			if err := json.Unmarshal(line, &ll); err != nil {
				// A torn last line (crash mid-append) is dropped.
				if !sc.Scan() {
					break
				}
				return nil, fmt.Errorf("jobnet: run log %s:%d: %w", path, n, err)
			}
			_ = l.st.Apply(ll.At, ll.Op) // rejected ops were rejected the first time too
			l.lines++
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("jobnet: run log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("jobnet: run log: %w", err)
	}
	l.f = f
	return l, nil
}

func isSnapshot(line []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(line, &probe) != nil {
		return false
	}
	_, ok := probe["Snapshot"]
	return ok
}

// Close closes the file.
func (l *FileLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Propose implements RunLog.
func (l *FileLog) Propose(ctx context.Context, op runstate.Op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	at := l.now().UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	// Apply to a copy of the touched state first, so a rejected op is
	// neither written nor applied.
	probe := l.probe(op)
	if err := probe.Apply(at, op); err != nil {
		return err
	}
	if l.f != nil {
		b, err := json.Marshal(logLine{At: at, Op: op})
		if err != nil {
			return err
		}
		if _, err := l.f.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("jobnet: run log: %w", err)
		}
		if err := l.f.Sync(); err != nil {
			return fmt.Errorf("jobnet: run log: %w", err)
		}
		l.lines++
	}
	l.st = probe
	if l.lines > compactAfter {
		_ = l.compact()
	}
	l.signal()
	return nil
}

// probe returns a copy of l.st that shares only the runs op does not
// touch, so Apply on it cannot change l.st; it replaces l.st once the op
// is on disk.
func (l *FileLog) probe(op runstate.Op) *runstate.State {
	p := &runstate.State{Fired: map[string]time.Time{}, Runs: map[string]*runstate.Run{}}
	for k, v := range l.st.Fired {
		p.Fired[k] = v
	}
	for id, r := range l.st.Runs {
		if id == op.Run || op.Fire != nil && id == op.Fire.ID {
			p.Runs[id] = r.Clone()
		} else {
			p.Runs[id] = r
		}
	}
	return p
}

func (l *FileLog) compact() error {
	b, err := json.Marshal(struct{ Snapshot *runstate.State }{l.st})
	if err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if f, err := os.Open(tmp); err == nil {
		_ = f.Sync()
		f.Close()
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	l.f.Close()
	l.f, l.lines = f, 0
	return nil
}

func (l *FileLog) signal() {
	l.chMu.Lock()
	close(l.changed)
	l.changed = make(chan struct{})
	l.chMu.Unlock()
}

// View implements RunLog.
func (l *FileLog) View(fn func(*runstate.State)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	fn(l.st)
}

// Changed implements RunLog.
func (l *FileLog) Changed() <-chan struct{} {
	l.chMu.Lock()
	defer l.chMu.Unlock()
	return l.changed
}

// Leader implements RunLog: a single node always leads.
func (l *FileLog) Leader() bool { return true }

// Barrier implements RunLog.
func (l *FileLog) Barrier(context.Context) error { return nil }
