package backup

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
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Runbook ids of the incidents backups raise.
const (
	RunbookFailed = "backup-failed"
	RunbookTooOld = "backup-too-old"
)

// DropTimeout bounds dropping a scratch database.
var DropTimeout = 30 * time.Second

// Spec is one configured source: what, where, and how long it is kept.
type Spec struct {
	Name        string
	Source      Source
	Destination Destination
	Policy      Policy
	// MaxAge: an incident when the newest verified generation ended
	// longer ago than this (0: never).
	MaxAge time.Duration
}

// Sink takes the incidents the manager raises (the node's ingest).
type Sink interface {
	Publish(ctx context.Context, ev incident.Event) error
}

// Manager runs backups, verifications, restores and prunes of the
// configured sources and keeps the catalog.
type Manager struct {
	Store ledger.BackupStore
	Specs map[string]Spec
	// Sink raises verification and age incidents (nil: none).
	Sink Sink
	// Node names the node in incidents.
	Node string
	// ScratchDir is where verifications restore ("": the system's temp).
	ScratchDir string
	Log        *slog.Logger
	Now        func() time.Time

	mu      sync.Mutex
	running map[string]bool // sources being backed up
	metrics *metrics
}

type metrics struct {
	runs, verifies *prometheus.CounterVec
	bytes          *prometheus.CounterVec
	lastVerified   *prometheus.GaugeVec
}

// Register creates the manager's metrics on r.
func (m *Manager) Register(r prometheus.Registerer) error {
	mt := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_backup_runs_total",
			Help: "Backups run, by source and result (ok, failed)."}, []string{"source", "result"}),
		verifies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_backup_verifies_total",
			Help: "Backup verifications (restores compared with the manifest), by source and result."}, []string{"source", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_backup_bytes_total",
			Help: "Bytes written to backup destinations, by source."}, []string{"source"}),
		lastVerified: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "unyo_backup_last_verified_timestamp_seconds",
			Help: "End of the newest verified generation of each source (Unix seconds)."}, []string{"source"}),
	}
	for _, c := range []prometheus.Collector{mt.runs, mt.verifies, mt.bytes, mt.lastVerified} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	m.metrics = mt
	return nil
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

func (m *Manager) now() time.Time {
	if m.Now == nil {
		return time.Now().UTC()
	}
	return m.Now().UTC()
}

// SetSpecs replaces the configured sources (a reload).
func (m *Manager) SetSpecs(specs map[string]Spec) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Specs = specs
}

// spec is the configured source of name: a configured name, or a
// catalog source of a self source ("<name>-<node>", see Catalog).
func (m *Manager) spec(name string) (Spec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.Specs[name]
	if ok {
		return s, nil
	}
	best := ""
	for k, sp := range m.Specs {
		if sp.Source != nil && sp.Source.Kind() == KindSelf && strings.HasPrefix(name, k+"-") && len(k) > len(best) {
			best, s, ok = k, sp, true
		}
	}
	if !ok {
		return s, fmt.Errorf("%q: %w", name, ErrNoSource)
	}
	return s, nil
}

// Catalog is the catalog's source name of the configured source name:
// a self source's generations are this node's own, "<name>-<node>"
// (node characters outside A-Z, a-z, 0-9, '-', '_' as '_'), so nodes
// backing up self to one destination never share generation names (and
// directories), retention or age. Others keep their name.
func (m *Manager) Catalog(name string) string {
	m.mu.Lock()
	s, ok := m.Specs[name]
	m.mu.Unlock()
	if !ok || s.Source == nil || s.Source.Kind() != KindSelf || m.Node == "" {
		return name
	}
	node := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return r
		}
		return '_'
	}, m.Node)
	c := name + "-" + node
	if len(c) > 63 {
		c = c[:63]
	}
	return c
}

// Sources lists the configured source names, sorted.
func (m *Manager) Sources() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for n := range m.Specs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func prefix(b ledger.BackupRecord) string { return b.Source + "/" + b.ID }

// Run backs up source as a new generation and records it. The returned
// record is the catalog's (result ok or failed); err says why it failed.
func (m *Manager) Run(ctx context.Context, source, by string, p Progress) (ledger.BackupRecord, error) {
	s, err := m.spec(source)
	if err != nil {
		return ledger.BackupRecord{}, err
	}
	source = m.Catalog(source)
	m.mu.Lock()
	if m.running == nil {
		m.running = map[string]bool{}
	}
	if m.running[source] {
		m.mu.Unlock()
		return ledger.BackupRecord{}, fmt.Errorf("backup of %s: already running", source)
	}
	m.running[source] = true
	m.mu.Unlock()
	defer func() { m.mu.Lock(); delete(m.running, source); m.mu.Unlock() }()

	rec, err := m.Store.BeginBackup(ctx, ledger.BackupRecord{Source: source, Kind: s.Source.Kind(),
		Destination: s.Destination.Name(), Started: m.now(), By: by})
	if err != nil {
		return rec, err
	}
	log := m.log().With("backup", rec.ID, "source", source)
	man := &Manifest{Version: 1, ID: rec.ID, Source: source, Kind: s.Source.Kind(), Started: rec.Started}
	put := func(ctx context.Context, name string, fn func(w io.Writer) error) error {
		ow, err := s.Destination.Create(ctx, prefix(rec)+"/"+name)
		if err != nil {
			return err
		}
		hw := newHashingWriter(ow)
		if err := fn(hw); err != nil {
			ow.Abort()
			return err
		}
		if err := ow.Commit(); err != nil {
			return err
		}
		man.Objects = append(man.Objects, Object{Name: name, Size: hw.n, SHA256: hw.sum()})
		return nil
	}
	err = s.Source.Backup(ctx, put, man, p)
	if err == nil {
		// The manifest goes last, beside the data: a generation without
		// it was not finished.
		var data []byte
		man.Written = m.now()
		if data, err = json.MarshalIndent(man, "", " "); err == nil {
			err = m.putRaw(ctx, s.Destination, prefix(rec)+"/"+ManifestFile, data)
		}
	}
	rec.Ended, rec.Size = m.now(), man.Size()
	rec.Manifest, _ = json.Marshal(man)
	rec.Result = ledger.BackupOK
	if err != nil {
		rec.Result, rec.Error = ledger.BackupFailed, err.Error()
		// What was written of a failed generation is removed now.
		if derr := s.Destination.Delete(context.WithoutCancel(ctx), prefix(rec)); derr != nil {
			log.Warn("backup failed; its partial files stay", "err", derr)
		}
	}
	if ferr := m.Store.FinishBackup(context.WithoutCancel(ctx), rec); ferr != nil {
		err = errors.Join(err, ferr)
	}
	if m.metrics != nil {
		m.metrics.runs.WithLabelValues(source, rec.Result).Inc()
		m.metrics.bytes.WithLabelValues(source).Add(float64(rec.Size))
	}
	if err != nil {
		log.Error("backup failed", "err", err)
		return rec, fmt.Errorf("backup %s: %w", rec.ID, err)
	}
	log.Info("backup written", "bytes", rec.Size, "objects", len(man.Objects), "files", len(man.Files),
		"took", rec.Ended.Sub(rec.Started).Round(time.Millisecond))
	return rec, nil
}

func (m *Manager) putRaw(ctx context.Context, d Destination, key string, data []byte) error {
	w, err := d.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Commit()
}

// getter opens a generation's objects, checking each against the
// manifest as it is read.
func getter(d Destination, pfx string, man *Manifest) GetFunc {
	return func(ctx context.Context, name string) (io.ReadCloser, error) {
		o, ok := man.Object(name)
		if !ok {
			return nil, fmt.Errorf("%w: no object %s in the manifest", ErrMismatch, name)
		}
		rc, err := d.Open(ctx, pfx+"/"+name)
		if err != nil {
			return nil, err
		}
		return &checkedReader{rc: rc, h: sha256.New(), want: o}, nil
	}
}

func manifestOf(b ledger.BackupRecord) (*Manifest, error) {
	var man Manifest
	if err := json.Unmarshal(b.Manifest, &man); err != nil {
		return nil, fmt.Errorf("backup %s: manifest: %w", b.ID, err)
	}
	return &man, nil
}

func (m *Manager) generation(ctx context.Context, id string) (ledger.BackupRecord, Spec, *Manifest, error) {
	b, err := m.Store.Backup(ctx, id)
	if err != nil {
		return b, Spec{}, nil, err
	}
	if b.Result != ledger.BackupOK {
		return b, Spec{}, nil, fmt.Errorf("backup %s: result %s, nothing to restore", id, b.Result)
	}
	s, err := m.spec(b.Source)
	if err != nil {
		return b, s, nil, err
	}
	if s.Destination.Name() != b.Destination {
		return b, s, nil, fmt.Errorf("backup %s: on destination %s, source %s now writes to %s", id, b.Destination, b.Source, s.Destination.Name())
	}
	man, err := manifestOf(b)
	return b, s, man, err
}

// Verify restores generation id into a scratch place, compares it with
// its manifest and records the result in the catalog. A failed
// verification raises an incident (runbook backup-failed); a passed one
// clears it.
func (m *Manager) Verify(ctx context.Context, id string, p Progress) (ledger.BackupRecord, error) {
	b, s, man, err := m.generation(ctx, id)
	if err != nil {
		return b, err
	}
	start := time.Now()
	scratch, err := os.MkdirTemp(m.ScratchDir, "unyo-verify-")
	if err != nil {
		return b, err
	}
	defer os.RemoveAll(scratch)
	verr := s.Source.Verify(ctx, getter(s.Destination, prefix(b), man), man, scratch, p)
	if ctx.Err() != nil {
		return b, fmt.Errorf("verify %s: %w", id, context.Cause(ctx))
	}
	at := m.now()
	detail := ""
	if verr != nil {
		detail = verr.Error()
	}
	if err := m.Store.SetVerify(context.WithoutCancel(ctx), id, at, verr == nil, detail); err != nil {
		return b, errors.Join(verr, err)
	}
	result := "ok"
	if verr != nil {
		result = "failed"
	}
	if m.metrics != nil {
		m.metrics.verifies.WithLabelValues(b.Source, result).Inc()
		if verr == nil {
			m.metrics.lastVerified.WithLabelValues(b.Source).Set(float64(b.Ended.Unix()))
		}
	}
	b.CheckedAt, b.VerifyError = at, detail
	if verr == nil {
		b.VerifiedAt = at
		m.log().Info("backup verified", "backup", id, "took", time.Since(start).Round(time.Millisecond))
		m.raise(ctx, b.Source, "verify", incident.OK, RunbookFailed, fmt.Sprintf("backup %s verified: restored and matches its manifest", id))
		return b, nil
	}
	b.VerifiedAt = time.Time{}
	m.log().Error("backup verification failed", "backup", id, "err", verr)
	m.raise(ctx, b.Source, "verify", incident.Problem, RunbookFailed, fmt.Sprintf("backup %s failed verification: %v", id, verr))
	return b, fmt.Errorf("verify %s: %w", id, verr)
}

// VerifyLatest verifies the newest finished generation of source.
func (m *Manager) VerifyLatest(ctx context.Context, source string, p Progress) (ledger.BackupRecord, error) {
	if _, err := m.spec(source); err != nil {
		return ledger.BackupRecord{}, err
	}
	source = m.Catalog(source)
	l, err := m.Store.Backups(ctx, ledger.BackupFilter{Source: source})
	if err != nil {
		return ledger.BackupRecord{}, err
	}
	for _, b := range l {
		if b.Result == ledger.BackupOK {
			return m.Verify(ctx, b.ID, p)
		}
	}
	return ledger.BackupRecord{}, fmt.Errorf("source %s has no finished backup to verify", source)
}

// Restore restores generation id into to (a path, or a database name
// for a postgres source), checking every object against the manifest.
func (m *Manager) Restore(ctx context.Context, id string, to Target, p Progress) error {
	b, s, man, err := m.generation(ctx, id)
	if err != nil {
		return err
	}
	if err := s.Source.Restore(ctx, getter(s.Destination, prefix(b), man), man, to, p); err != nil {
		return fmt.Errorf("restore %s: %w", id, err)
	}
	m.log().Info("backup restored", "backup", id, "path", to.Path, "database", to.Database)
	return nil
}

// PruneResult is what Prune did (or, dry, would do).
type PruneResult struct {
	Source    string     `json:"source"`
	Decisions []Decision `json:"decisions"`
	Deleted   []string   `json:"deleted,omitempty"`
}

// Prune applies source's policy (Plan): deletes the generations it
// decides to delete, files first, then the catalog record (which
// refuses the only verified copy). dry only plans.
func (m *Manager) Prune(ctx context.Context, source string, dry bool) (PruneResult, error) {
	s, err := m.spec(source)
	if err != nil {
		return PruneResult{Source: source}, err
	}
	source = m.Catalog(source)
	res := PruneResult{Source: source}
	all, err := m.Store.Backups(ctx, ledger.BackupFilter{Source: source, Limit: 10000})
	if err != nil {
		return res, err
	}
	byID := map[string]ledger.BackupRecord{}
	for _, b := range all {
		byID[b.ID] = b
	}
	res.Decisions = Plan(all, s.Policy)
	if dry {
		return res, nil
	}
	var errs []error
	for _, d := range res.Decisions {
		if d.Action != "delete" {
			continue
		}
		b := byID[d.ID]
		if b.Destination == s.Destination.Name() {
			if err := s.Destination.Delete(ctx, prefix(b)); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if err := m.Store.DeleteBackup(ctx, d.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Deleted = append(res.Deleted, d.ID)
		m.log().Info("backup pruned", "backup", d.ID, "reason", d.Reason)
	}
	return res, errors.Join(errs...)
}

// Age is the state of one source against its max_age.
type Age struct {
	Source string `json:"source"`
	// Newest is the newest verified generation ("" none) and Ended its end.
	Newest string        `json:"newest,omitempty"`
	Ended  time.Time     `json:"ended,omitzero"`
	MaxAge time.Duration `json:"max_age"`
	Stale  bool          `json:"stale"`
}

// CheckAge finds, for each source with a max_age, its newest verified
// generation, and raises an incident (runbook backup-too-old) for each
// whose newest verified generation ended longer ago than max_age (or
// that has none), clearing it for the others.
func (m *Manager) CheckAge(ctx context.Context) ([]Age, error) {
	var out []Age
	now := m.now()
	for _, name := range m.Sources() {
		s, err := m.spec(name)
		if err != nil {
			continue
		}
		if s.MaxAge <= 0 {
			continue
		}
		name := m.Catalog(name)
		l, err := m.Store.Backups(ctx, ledger.BackupFilter{Source: name, Limit: 10000})
		if err != nil {
			return out, err
		}
		a := Age{Source: name, MaxAge: s.MaxAge}
		for _, b := range l {
			if b.Verified() && b.Ended.After(a.Ended) {
				a.Newest, a.Ended = b.ID, b.Ended
			}
		}
		a.Stale = a.Newest == "" || now.Sub(a.Ended) > s.MaxAge
		if m.metrics != nil && a.Newest != "" {
			m.metrics.lastVerified.WithLabelValues(name).Set(float64(a.Ended.Unix()))
		}
		switch {
		case a.Stale && a.Newest == "":
			m.raise(ctx, name, "age", incident.Problem, RunbookTooOld, fmt.Sprintf("source %s has no verified backup (max_age %s)", name, s.MaxAge))
		case a.Stale:
			m.raise(ctx, name, "age", incident.Problem, RunbookTooOld, fmt.Sprintf("newest verified backup of %s is %s, ended %s ago (max_age %s)",
				name, a.Newest, now.Sub(a.Ended).Round(time.Second), s.MaxAge))
		default:
			m.raise(ctx, name, "age", incident.OK, RunbookTooOld, fmt.Sprintf("newest verified backup of %s is %s", name, a.Newest))
		}
		out = append(out, a)
	}
	return out, nil
}

// raise publishes an event for source (dedup backup/<source>/<check>).
func (m *Manager) raise(ctx context.Context, source, check string, st incident.Status, runbook, msg string) {
	if m.Sink == nil {
		return
	}
	at := m.now()
	sum := sha256.Sum256([]byte(source + "/" + check + "/" + string(st) + "/" + at.Format(time.RFC3339Nano)))
	ev := incident.Event{ID: "backup-" + hex.EncodeToString(sum[:12]), Source: "backup", Target: m.Node,
		Check: path.Join("backup", source, check), Severity: incident.Major, Status: st,
		DedupKey: "backup/" + source + "/" + check, Message: msg, Time: at, Runbook: runbook,
		Labels: map[string]string{"source": source}}
	if len(ev.Message) > incident.MaxMessageLen {
		ev.Message = ev.Message[:incident.MaxMessageLen]
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := m.Sink.Publish(pctx, ev); err != nil {
		m.log().Error("backup incident not raised", "source", source, "check", check, "err", err)
	}
}

// List lists the catalog, newest first.
// A filter naming a configured self source lists this node's generations
// of it (Catalog).
func (m *Manager) List(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	if f.Source != "" {
		f.Source = m.Catalog(f.Source)
	}
	return m.Store.Backups(ctx, f)
}
