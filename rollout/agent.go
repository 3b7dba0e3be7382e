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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"aead.dev/minisign"
	"github.com/minio/selfupdate"
	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/jobnet"
)

// Files in an agent's state directory.
const (
	// trialFile marks a new binary on trial: if it has not been committed
	// by its deadline, the agent restores prevFile and runs it again.
	trialFile    = "update-trial.json"
	rollbackFile = "update-rollback.json" // why the last update was rolled back, until reported
	prevFile     = "unyo.prev"            // the rollback copy of the binary before the update
	downloadFile = "update.download"
	// HomeFile is where a re-homed agent keeps its new home (NATS URLs and
	// trusted keys), read at start before the command line's.
	HomeFile = "home.json"
)

// trial is the marker of a binary on trial.
type trial struct {
	From     string    `json:"from"`
	To       string    `json:"to"`
	Rollout  string    `json:"rollout"`
	Deadline time.Time `json:"deadline"`
}

type rollback struct {
	Version string `json:"version"`
	Reason  string `json:"reason"`
}

// Home is a re-homed agent's cluster.
type Home struct {
	NATS      string `json:"nats"`
	TrustKeys string `json:"trust_keys"`
}

// Updater is an agent's side: it reports the agent's version and update
// state every Every, follows the signed directives it gets back
// (updating itself with selfupdate, keeping the old binary and restoring
// it if the new one does not start or does not heartbeat within the
// watch period; re-homing), and answers Gate for the job runner.
type Updater struct {
	Name     string
	NC       *nats.Conn
	Trust    *jobnet.Verifier
	Version  string
	Platform string
	// ReleaseKey verifies release binaries; nil refuses every update.
	ReleaseKey *minisign.PublicKey
	// StateDir keeps the rollback copy and markers; "" refuses updates.
	StateDir string
	// Exe is the binary to update (default os.Executable()); Args and Env
	// start it again after a swap (default os.Args, os.Environ()).
	Exe  string
	Args []string
	Env  []string
	// Every is the report interval (default 10s).
	Every time.Duration
	// Move re-homes the agent; it returns once the new cluster confirmed
	// (then the agent reports moved and Run returns ErrMoved) or with why
	// not. nil: moves are reported as not possible.
	Move   func(ctx context.Context, m MoveOrder) error
	Logger *slog.Logger

	last      atomic.Pointer[Directive]
	mu        sync.Mutex
	state     string // what the next report says
	progress  int
	message   string
	reason    string
	trial     *trial
	committed chan struct{}
	moveTried time.Time
}

// ErrMoved is returned by Run once the agent has moved to its new home.
var ErrMoved = errors.New("rollout: agent moved to a new home")

// Gate says why the agent may not start a job now ("" when it may): a
// release in refuse mode, or a mandatory release it does not run yet.
func (u *Updater) Gate() string {
	d := u.last.Load()
	if d == nil {
		return ""
	}
	switch {
	case d.Mode == ModeRefuse:
		return "the cluster refuses jobs now: " + d.Message
	case d.Mode == ModeMandatory && d.Release != "" && d.Release != u.Version:
		return fmt.Sprintf("mandatory update to %s first: %s", d.Release, d.Message)
	}
	return ""
}

// Last is the last directive received (nil before the first).
func (u *Updater) Last() *Directive { return u.last.Load() }

func (u *Updater) set(state string, progress int, msg string) {
	u.mu.Lock()
	u.state, u.progress, u.message = state, progress, msg
	u.mu.Unlock()
}

// Init reads the markers of an earlier update (a trial in progress, a
// rollback to report) and reports once, so that the first directive
// (and Gate) is known before jobs start; it waits at most wait.
func (u *Updater) Init(ctx context.Context, wait time.Duration) {
	if u.Logger == nil {
		u.Logger = slog.New(slog.DiscardHandler)
	}
	if u.Every <= 0 {
		u.Every = 10 * time.Second
	}
	if u.Exe == "" {
		u.Exe, _ = os.Executable()
	}
	if u.Args == nil {
		u.Args = os.Args
	}
	if u.Env == nil {
		u.Env = os.Environ()
	}
	u.committed = make(chan struct{})
	u.state = ReportIdle
	if u.StateDir != "" {
		var t trial
		if readJSON(filepath.Join(u.StateDir, trialFile), &t) == nil {
			if t.To == u.Version {
				u.trial = &t
				u.state = StateWatching
				u.Logger.Info("update: running the new binary on trial", "from", t.From, "to", t.To, "deadline", t.Deadline)
			} else {
				// The old binary runs with a trial marker: the new one
				// was given up (restored by its watchdog or by hand).
				_ = os.Remove(filepath.Join(u.StateDir, trialFile))
				if _, err := os.Stat(filepath.Join(u.StateDir, rollbackFile)); err != nil {
					_ = writeJSON(filepath.Join(u.StateDir, rollbackFile), rollback{Version: t.To,
						Reason: fmt.Sprintf("the agent restarted on %s while %s was on trial", u.Version, t.To)})
				}
			}
		}
		var rb rollback
		if readJSON(filepath.Join(u.StateDir, rollbackFile), &rb) == nil {
			u.state, u.message = StateRolledBack, rb.Reason
			u.Logger.Warn("update: rolled back", "version", rb.Version, "reason", rb.Reason)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	u.once(cctx)
}

// Run reports every Every until ctx ends (or the agent moved).
func (u *Updater) Run(ctx context.Context) error {
	if u.trial != nil {
		go u.watchdog(ctx, *u.trial)
	}
	t := time.NewTicker(u.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := u.once(ctx); errors.Is(err, ErrMoved) {
			return err
		}
	}
}

// once sends one report and follows the directive.
func (u *Updater) once(ctx context.Context) error {
	d, err := u.report(ctx)
	if err != nil {
		u.Logger.Debug("report", "err", err)
		return nil
	}
	return u.follow(ctx, d)
}

func (u *Updater) report(ctx context.Context) (*Directive, error) {
	u.mu.Lock()
	r := Report{Agent: u.Name, Version: u.Version, Platform: u.Platform, State: u.state, Progress: u.progress,
		Message: u.message, Reason: u.reason}
	u.mu.Unlock()
	b, _ := json.Marshal(r)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := u.NC.RequestWithContext(rctx, ReportSubject+"."+u.Name, b)
	if err != nil {
		return nil, err
	}
	d, err := OpenDirective(u.Trust, u.Name, m.Data, time.Now())
	if err != nil {
		u.Logger.Warn("directive refused", "err", err)
		return nil, err
	}
	// A report that carried a one-off outcome has been heard.
	u.mu.Lock()
	switch r.State {
	case StateRolledBack, StateFailed, ReportCommitted, ReportMoveFailed:
		if u.state == r.State {
			u.state, u.message, u.reason = ReportIdle, "", ""
		}
		if r.State == StateRolledBack && u.StateDir != "" {
			_ = os.Remove(filepath.Join(u.StateDir, rollbackFile))
		}
	}
	if u.message == r.Message && r.State != StateRolledBack && r.State != StateFailed {
		u.message = ""
	}
	u.mu.Unlock()
	prev := u.last.Swap(d)
	if prev == nil || prev.Mode != d.Mode || prev.Message != d.Message || prev.Release != d.Release {
		switch {
		case d.Mode == ModeOptional && d.Release != u.Version:
			u.Logger.Info("an update waits", "release", d.Release, "message", d.Message)
		case d.Mode != "":
			u.Logger.Info("release policy", "mode", d.Mode, "release", d.Release, "message", d.Message, "jobs", gateText(u.Gate()))
		}
	}
	return d, nil
}

func gateText(g string) string {
	if g == "" {
		return "allowed"
	}
	return "refused: " + g
}

// OpenDirective verifies a signed directive for agent.
func OpenDirective(trust *jobnet.Verifier, agent string, data []byte, now time.Time) (*Directive, error) {
	p, _, err := trust.OpenMessage(DirectiveKind, data)
	if err != nil {
		return nil, err
	}
	var d Directive
	if err := json.Unmarshal(p, &d); err != nil {
		return nil, fmt.Errorf("directive: %w", err)
	}
	switch {
	case d.Agent != agent:
		return nil, fmt.Errorf("directive for %q, this agent is %q", d.Agent, agent)
	case !now.Before(d.Expires):
		return nil, fmt.Errorf("directive expired at %s", d.Expires.Format(time.RFC3339))
	case d.Issued.After(now.Add(jobnet.MaxClockSkew)):
		return nil, fmt.Errorf("directive issued in the future (%s)", d.Issued.Format(time.RFC3339))
	}
	return &d, nil
}

func (u *Updater) follow(ctx context.Context, d *Directive) error {
	if d.Commit && u.trial != nil {
		_ = os.Remove(filepath.Join(u.StateDir, trialFile))
		u.Logger.Info("update committed", "version", u.Version)
		u.trial = nil
		close(u.committed)
		u.set(ReportCommitted, 0, "")
		_, _ = u.report(ctx)
	}
	if d.Update != nil && d.Update.Version != u.Version && u.trial == nil {
		u.update(ctx, *d.Update)
	}
	if d.Move != nil && time.Since(u.moveTried) > 5*time.Second {
		u.moveTried = time.Now()
		return u.move(ctx, *d.Move)
	}
	return nil
}

func (u *Updater) move(ctx context.Context, m MoveOrder) error {
	err := errors.New("this agent cannot re-home (no state directory)")
	if u.Move != nil && u.StateDir != "" {
		err = u.Move(ctx, m)
	}
	if err != nil {
		u.Logger.Warn("move to a new home failed; staying", "to", m.To, "err", err)
		u.mu.Lock()
		u.state, u.reason = ReportMoveFailed, err.Error()
		u.mu.Unlock()
		return nil
	}
	// Confirmed there: tell this cluster, then leave.
	u.mu.Lock()
	u.state = ReportMoved
	u.mu.Unlock()
	if _, err := u.report(ctx); err != nil {
		u.Logger.Warn("could not tell the old cluster about the move; leaving anyway (it lists this agent as not moved)", "err", err)
	}
	if err := writeJSON(filepath.Join(u.StateDir, HomeFile), Home{NATS: m.To, TrustKeys: m.TrustKeys}); err != nil {
		return fmt.Errorf("rollout: keep the new home: %w", err)
	}
	u.Logger.Info("moved to a new home", "to", m.To)
	return ErrMoved
}

// fail ends an update attempt with state (failed or rolled-back).
func (u *Updater) fail(state, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.Logger.Error("update "+state, "err", msg)
	u.set(state, 0, msg)
}

// update downloads, verifies and swaps in o, then starts it.
func (u *Updater) update(ctx context.Context, o UpdateOrder) {
	log := u.Logger.With("version", o.Version, "rollout", o.Rollout)
	switch {
	case u.StateDir == "":
		u.fail(StateFailed, "no state directory (--state-dir): this agent does not update itself")
		return
	case u.ReleaseKey == nil:
		u.fail(StateFailed, "no trusted release key (--release-key): this agent does not update itself")
		return
	}
	log.Info("update: downloading", "size", o.Size)
	u.set(StateDownloading, 0, "")
	path := filepath.Join(u.StateDir, downloadFile)
	defer os.Remove(path)
	if err := u.download(ctx, o, path); err != nil {
		u.fail(StateFailed, "download: %v", err)
		return
	}
	u.set(StateVerifying, 100, "")
	_, _ = u.report(ctx)
	sum, n, err := VerifyFile(*u.ReleaseKey, path, o.Signature)
	if err != nil {
		u.fail(StateFailed, "verify: %v", err)
		return
	}
	if sum != o.SHA256 || n != o.Size {
		u.fail(StateFailed, "verify: got %d bytes with SHA-256 %s, want %d bytes with %s", n, sum, o.Size, o.SHA256)
		return
	}
	sigPath := path + ".minisig"
	if err := os.WriteFile(sigPath, []byte(o.Signature), 0o600); err != nil {
		u.fail(StateFailed, "%v", err)
		return
	}
	defer os.Remove(sigPath)
	v := selfupdate.NewVerifier()
	if err := v.LoadFromFile(sigPath, KeyText(*u.ReleaseKey)); err != nil {
		u.fail(StateFailed, "verifier: %v", err)
		return
	}
	shaBytes, _ := hex.DecodeString(o.SHA256)
	f, err := os.Open(path)
	if err != nil {
		u.fail(StateFailed, "%v", err)
		return
	}
	prev := filepath.Join(u.StateDir, prevFile)
	err = selfupdate.Apply(f, selfupdate.Options{TargetPath: u.Exe, Checksum: shaBytes, Verifier: v, OldSavePath: prev})
	f.Close()
	if err != nil {
		if rerr := selfupdate.RollbackError(err); rerr != nil {
			u.fail(StateFailed, "swap: %v; restoring the old binary failed too: %v", err, rerr)
			return
		}
		u.fail(StateFailed, "swap: %v", err)
		return
	}
	// Does the new binary start at all? If not, the old one goes back now.
	if err := probe(ctx, u.Exe, o.Version); err != nil {
		u.restore(o.Version, fmt.Sprintf("the new binary does not start: %v", err))
		return
	}
	t := trial{From: u.Version, To: o.Version, Rollout: o.Rollout, Deadline: time.Now().Add(o.Watch)}
	if err := writeJSON(filepath.Join(u.StateDir, trialFile), t); err != nil {
		u.restore(o.Version, fmt.Sprintf("trial marker: %v", err))
		return
	}
	u.set(StateSwapped, 100, "")
	_, _ = u.report(ctx)
	log.Info("update: swapped; starting the new binary on trial", "deadline", t.Deadline)
	if err := syscall.Exec(u.Exe, u.Args, u.Env); err != nil {
		_ = os.Remove(filepath.Join(u.StateDir, trialFile))
		u.restore(o.Version, fmt.Sprintf("start the new binary: %v", err))
	}
}

// restore puts the rollback copy back in place and reports rolled-back.
func (u *Updater) restore(version, why string) {
	prev := filepath.Join(u.StateDir, prevFile)
	if err := os.Rename(prev, u.Exe); err != nil {
		u.fail(StateFailed, "%s; restoring the old binary failed: %v", why, err)
		return
	}
	u.fail(StateRolledBack, "%s", why)
}

// watchdog restores the old binary and runs it if the trial is not
// committed by its deadline.
func (u *Updater) watchdog(ctx context.Context, t trial) {
	select {
	case <-ctx.Done():
		return
	case <-u.committed:
		return
	case <-time.After(time.Until(t.Deadline)):
	}
	why := fmt.Sprintf("the cluster did not confirm %s within the watch period", t.To)
	u.Logger.Error("update: trial not confirmed; restoring the old binary", "from", t.From, "to", t.To)
	_ = writeJSON(filepath.Join(u.StateDir, rollbackFile), rollback{Version: t.To, Reason: why})
	_ = os.Remove(filepath.Join(u.StateDir, trialFile))
	if err := os.Rename(filepath.Join(u.StateDir, prevFile), u.Exe); err != nil {
		u.Logger.Error("update: restore the old binary", "err", err)
		return
	}
	if err := syscall.Exec(u.Exe, u.Args, u.Env); err != nil {
		u.Logger.Error("update: start the old binary", "err", err)
	}
}

// download fetches the binary: differentially (only the chunks the
// running binary lacks) unless the order says Full or that fails, then
// in full.
func (u *Updater) download(ctx context.Context, o UpdateOrder, path string) error {
	start := time.Now()
	if !o.Full {
		st, err := u.downloadDelta(ctx, o, path)
		if err == nil {
			u.Logger.Info("update: differential download", "fetched", st.Fetched, "reused", st.Reused, "size", o.Size,
				"took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		u.Logger.Warn("update: differential download failed; downloading in full", "err", err)
	}
	if err := u.downloadFull(ctx, o, path); err != nil {
		return err
	}
	u.Logger.Info("update: full download", "size", o.Size, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// downloadFull fetches the whole binary in chunks, reporting progress
// every 10%.
func (u *Updater) downloadFull(ctx context.Context, o UpdateOrder, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	last := 0
	for off := int64(0); off < o.Size; {
		n := int(min(int64(ChunkSize), o.Size-off))
		data, err := u.fetch(ctx, ChunkRequest{SHA256: o.SHA256, Offset: off, Length: n})
		if err != nil {
			return fmt.Errorf("chunk at %d: %w", off, err)
		}
		if len(data) != n {
			return fmt.Errorf("chunk at %d: %d bytes, want %d", off, len(data), n)
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		off += int64(n)
		if p := int(off * 100 / o.Size); p/10 > last/10 && p < 100 {
			last = p
			u.set(StateDownloading, p, "")
			_, _ = u.report(ctx)
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != o.SHA256 {
		return fmt.Errorf("SHA-256 %s, want %s", got, o.SHA256)
	}
	return f.Sync()
}

// probe runs `exe version` and wants version in its output.
func probe(ctx context.Context, exe, version string) error {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(pctx, exe, "version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s version: %v: %s", exe, err, truncate(strings.TrimSpace(string(out))))
	}
	if !strings.Contains(string(out), version) {
		return fmt.Errorf("%s version printed %q, want %s", exe, truncate(strings.TrimSpace(string(out))), version)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// writeJSON writes v to path atomically (temp file, fsync, rename).
func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadHome reads a re-homed agent's home from its state directory (nil
// when it never moved).
func ReadHome(stateDir string) (*Home, error) {
	var h Home
	err := readJSON(filepath.Join(stateDir, HomeFile), &h)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, HomeFile), err)
	}
	return &h, nil
}
