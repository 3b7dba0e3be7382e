package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/backup"
)

// Backups runs and lists the node's backups (package backup); the node
// implements it (node/backup.go). Nil: the endpoints answer 404.
type Backups interface {
	List(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error)
	Sources() []string
	Run(ctx context.Context, source, by string, p backup.Progress) (ledger.BackupRecord, error)
	Verify(ctx context.Context, id string, p backup.Progress) (ledger.BackupRecord, error)
	Restore(ctx context.Context, id string, to backup.Target, p backup.Progress) error
	Prune(ctx context.Context, source string, dry bool) (backup.PruneResult, error)
}

// BackupRunRequest is the body of POST /api/v1/backups/run.
type BackupRunRequest struct {
	Source string `json:"source"`
}

// BackupRestoreRequest is the body of POST /api/v1/backups/{id}/restore:
// exactly one of an absolute path on the node and a new database name.
type BackupRestoreRequest struct {
	Path     string `json:"path,omitempty"`
	Database string `json:"database,omitempty"`
}

// BackupPruneRequest is the body of POST /api/v1/backups/prune.
type BackupPruneRequest struct {
	Source string `json:"source"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// BackupList is the answer of GET /api/v1/backups.
type BackupList struct {
	Sources []string              `json:"sources"`
	Backups []ledger.BackupRecord `json:"backups"`
}

// BackupProgress is one line of the answers of run, verify and restore
// (application/x-ndjson): progress lines, then one with Done set and
// Backup (run, verify) or Error.
type BackupProgress struct {
	Stage  string               `json:"stage,omitempty"`
	Bytes  int64                `json:"bytes,omitempty"`
	Total  int64                `json:"total,omitempty"`
	End    bool                 `json:"end,omitempty"`
	Backup *ledger.BackupRecord `json:"backup,omitempty"`
	Error  string               `json:"error,omitempty"`
}

// BackupTimeout bounds one backup, verification or restore through the
// API.
const BackupTimeout = 12 * time.Hour

var (
	backupSourceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
	backupIDRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}\.[0-9]{1,18}$`)
	databaseRE     = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// CheckBackupRestore validates a restore request.
func CheckBackupRestore(q BackupRestoreRequest) (field string, err error) {
	switch {
	case (q.Path == "") == (q.Database == ""):
		return "path", errors.New("want exactly one of path and database")
	case q.Path != "" && (!filepath.IsAbs(q.Path) || len(q.Path) > 4096 || filepath.Clean(q.Path) == "/"):
		return "path", errors.New(strconv.Quote(q.Path) + ": want an absolute path on the node, not /")
	case q.Database != "" && !databaseRE.MatchString(q.Database):
		return "database", errors.New(strconv.Quote(q.Database) + ": want a database name of a-z, 0-9, '_' (at most 63)")
	}
	return "", nil
}

func (a *api) registerBackups(mux *auth.Mux) {
	none := func(w http.ResponseWriter) bool {
		if a.Backups == nil {
			writeError(w, http.StatusNotFound, "", "this node runs no backups")
			return true
		}
		return false
	}
	status := func(err error) int {
		switch {
		case errors.Is(err, incident.ErrNotFound), errors.Is(err, backup.ErrNoSource):
			return http.StatusNotFound
		case errors.Is(err, backup.ErrExists):
			return http.StatusConflict
		}
		return http.StatusInternalServerError
	}
	mux.HandleFunc("GET /api/v1/backups", auth.ActionBackupRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		f := ledger.BackupFilter{Source: r.URL.Query().Get("source")}
		if f.Source != "" && !backupSourceRE.MatchString(f.Source) {
			writeError(w, http.StatusBadRequest, "source", strconv.Quote(f.Source)+": not a source name")
			return
		}
		if l := r.URL.Query().Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 10000 {
				writeError(w, http.StatusBadRequest, "limit", strconv.Quote(l)+": want 1..10000")
				return
			}
			f.Limit = n
		}
		l, err := a.Backups.List(r.Context(), f)
		if err != nil {
			writeError(w, status(err), "", err.Error())
			return
		}
		if l == nil {
			l = []ledger.BackupRecord{}
		}
		src := a.Backups.Sources()
		if src == nil {
			src = []string{}
		}
		writeJSON(w, http.StatusOK, BackupList{Sources: src, Backups: l})
	})
	// stream answers with progress lines while fn runs.
	stream := func(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, p backup.Progress) (*ledger.BackupRecord, error)) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(BackupTimeout))
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		// Through the auth middleware's writer (no Flush of its own, but
		// Unwrap): a type assertion to http.Flusher fails there and the
		// lines would come all at the end.
		rc := http.NewResponseController(w)
		var mu sync.Mutex
		send := func(p BackupProgress) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(p)
			_ = rc.Flush()
		}
		ctx, cancel := context.WithTimeout(r.Context(), BackupTimeout)
		defer cancel()
		b, err := fn(ctx, func(stage string, done, total int64) { send(BackupProgress{Stage: stage, Bytes: done, Total: total}) })
		end := BackupProgress{End: true, Backup: b}
		if err != nil {
			end.Error = err.Error()
			auth.Note(r.Context(), "failed: "+err.Error())
		}
		send(end)
	}
	mux.HandleFunc("POST /api/v1/backups/run", auth.ActionBackupRun, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		var q BackupRunRequest
		if !decodeBody(w, r, &q) {
			return
		}
		if !backupSourceRE.MatchString(q.Source) {
			writeError(w, http.StatusBadRequest, "source", strconv.Quote(q.Source)+": not a source name")
			return
		}
		id := auth.FromRequest(r)
		stream(w, r, func(ctx context.Context, p backup.Progress) (*ledger.BackupRecord, error) {
			b, err := a.Backups.Run(ctx, q.Source, id.Name, p)
			return &b, err
		})
	})
	mux.HandleFunc("POST /api/v1/backups/{id}/verify", auth.ActionBackupVerify, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		id := r.PathValue("id")
		if !backupIDRE.MatchString(id) {
			writeError(w, http.StatusBadRequest, "id", strconv.Quote(id)+": not a backup id (source.generation)")
			return
		}
		stream(w, r, func(ctx context.Context, p backup.Progress) (*ledger.BackupRecord, error) {
			b, err := a.Backups.Verify(ctx, id, p)
			return &b, err
		})
	})
	mux.HandleFunc("POST /api/v1/backups/{id}/restore", auth.ActionBackupRestore, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		id := r.PathValue("id")
		if !backupIDRE.MatchString(id) {
			writeError(w, http.StatusBadRequest, "id", strconv.Quote(id)+": not a backup id (source.generation)")
			return
		}
		var q BackupRestoreRequest
		if !decodeBody(w, r, &q) {
			return
		}
		if f, err := CheckBackupRestore(q); err != nil {
			writeError(w, http.StatusBadRequest, f, err.Error())
			return
		}
		auth.Note(r.Context(), "to "+q.Path+q.Database)
		stream(w, r, func(ctx context.Context, p backup.Progress) (*ledger.BackupRecord, error) {
			return nil, a.Backups.Restore(ctx, id, backup.Target{Path: q.Path, Database: q.Database}, p)
		})
	})
	mux.HandleFunc("POST /api/v1/backups/prune", auth.ActionBackupPrune, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		var q BackupPruneRequest
		if !decodeBody(w, r, &q) {
			return
		}
		if !backupSourceRE.MatchString(q.Source) {
			writeError(w, http.StatusBadRequest, "source", strconv.Quote(q.Source)+": not a source name")
			return
		}
		res, err := a.Backups.Prune(r.Context(), q.Source, q.DryRun)
		if len(res.Deleted) > 0 {
			auth.Note(r.Context(), "deleted "+strings.Join(res.Deleted, ", "))
		}
		if err != nil {
			writeError(w, status(err), "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}
