package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/console"
)

// Backups lists the backup catalog (newest first) and the configured
// sources.
func (c *Client) Backups(ctx context.Context, source string, limit int) (console.BackupList, error) {
	var out console.BackupList
	err := c.do(ctx, http.MethodGet, "/api/v1/backups", listQuery(limit, "source", source), nil, &out)
	return out, err
}

// RunBackup backs up source now, telling progress.
func (c *Client) RunBackup(ctx context.Context, source string, p backup.Progress) (ledger.BackupRecord, error) {
	return c.backupStream(ctx, "/api/v1/backups/run", console.BackupRunRequest{Source: source}, p)
}

// VerifyBackup restores generation id into a scratch place on the node
// and compares it with its manifest.
func (c *Client) VerifyBackup(ctx context.Context, id string, p backup.Progress) (ledger.BackupRecord, error) {
	return c.backupStream(ctx, "/api/v1/backups/"+url.PathEscape(id)+"/verify", struct{}{}, p)
}

// RestoreBackup restores generation id to a path or database on the node.
func (c *Client) RestoreBackup(ctx context.Context, id string, to console.BackupRestoreRequest, p backup.Progress) error {
	_, err := c.backupStream(ctx, "/api/v1/backups/"+url.PathEscape(id)+"/restore", to, p)
	return err
}

// PruneBackups applies source's keep policy (dry: only says what it
// would do).
func (c *Client) PruneBackups(ctx context.Context, source string, dry bool) (backup.PruneResult, error) {
	var out backup.PruneResult
	err := c.do(ctx, http.MethodPost, "/api/v1/backups/prune", nil, console.BackupPruneRequest{Source: source, DryRun: dry}, &out)
	return out, err
}

// backupStream posts in to path and reads the progress lines to the end.
func (c *Client) backupStream(ctx context.Context, path string, in any, p backup.Progress) (ledger.BackupRecord, error) {
	resp, u, err := c.postStream(ctx, path, in)
	if err != nil {
		return ledger.BackupRecord{}, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 70<<20)
	for sc.Scan() {
		var l console.BackupProgress
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return ledger.BackupRecord{}, fmt.Errorf("POST %s: decode: %w", u.Redacted(), err)
		}
		if !l.End {
			if p != nil {
				p(l.Stage, l.Bytes, l.Total)
			}
			continue
		}
		var b ledger.BackupRecord
		if l.Backup != nil {
			b = *l.Backup
		}
		if l.Error != "" {
			return b, errors.New(l.Error)
		}
		return b, nil
	}
	if err := sc.Err(); err != nil {
		return ledger.BackupRecord{}, fmt.Errorf("POST %s: %w", u.Redacted(), err)
	}
	return ledger.BackupRecord{}, fmt.Errorf("POST %s: the answer ended before the result", u.Redacted())
}
