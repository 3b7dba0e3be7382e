package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
)

const backupUsage = `usage:
  unyo backup list [--source NAME] [--limit N] [-o table|json]
  unyo backup run SOURCE [-o table|json]
  unyo backup verify ID [-o table|json]
  unyo backup restore ID (--to PATH | --database NAME)
  unyo backup prune SOURCE [--dry-run] [-o table|json]

The node runs each of them (its destinations, its scratch space): run backs
up a configured source as a new generation (ID source.N); verify restores a
generation into a scratch place and compares it with its manifest (only a
verified generation counts); restore puts a generation back at PATH on the
node (a new or empty directory, or a new file for sqlite) or into a new
PostgreSQL database; prune deletes what the source's keep policy does not
keep, and only once a newer generation is verified. A progress bar on a
terminal, log lines otherwise. A lost node is rebuilt with 'unyo restore'
(docs/backup.md).`

func backupCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(backupUsage, "\n\n")

	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the backup catalog, newest first", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	source := list.Flags().String("source", "", "only this source")
	limit := list.Flags().Int("limit", 0, "at most N generations (default 100)")
	list.RunE = run(func(ctx context.Context, pos []string) error { return backupList(ctx, env, la, pos, *source, *limit) })

	runC := &cobra.Command{Use: "run SOURCE", Short: "back up a source now"}
	ra := newAPICmd(env, runC)
	runC.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ra.connect(pos, 1, backupUsage)
		if err != nil {
			return err
		}
		p, done := backupProgress(env, "backup "+pos[0])
		b, err := c.RunBackup(ctx, pos[0], p)
		done(err)
		if err != nil {
			return err
		}
		return printBackup(env, ra, b)
	})

	verify := &cobra.Command{Use: "verify ID", Short: "restore a generation into a scratch place and compare it with its manifest"}
	va := newAPICmd(env, verify)
	verify.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := va.connect(pos, 1, backupUsage)
		if err != nil {
			return err
		}
		p, done := backupProgress(env, "verify "+pos[0])
		b, err := c.VerifyBackup(ctx, pos[0], p)
		done(err)
		if err != nil {
			return err
		}
		return printBackup(env, va, b)
	})

	restore := &cobra.Command{Use: "restore ID", Short: "restore a generation to a path or a new database on the node"}
	rsa := newAPICmd(env, restore)
	to := restore.Flags().String("to", "", "absolute path on the node (a new or empty directory; a new file for sqlite)")
	db := restore.Flags().String("database", "", "name of a new PostgreSQL database (postgres sources)")
	restore.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := rsa.connect(pos, 1, backupUsage)
		if err != nil {
			return err
		}
		q := console.BackupRestoreRequest{Path: *to, Database: *db}
		if f, err := console.CheckBackupRestore(q); err != nil {
			flag := "to"
			if f == "database" {
				flag = "database"
			}
			return usagef("--%s: %v", flag, err)
		}
		p, done := backupProgress(env, "restore "+pos[0])
		err = c.RestoreBackup(ctx, pos[0], q, p)
		done(err)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "restored %s to %s\n", safe(pos[0]), safe(*to+*db))
		return nil
	})

	prune := &cobra.Command{Use: "prune SOURCE", Short: "delete the generations the source's keep policy does not keep"}
	pa := newAPICmd(env, prune)
	dry := prune.Flags().Bool("dry-run", false, "only say what would be deleted")
	prune.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := pa.connect(pos, 1, backupUsage)
		if err != nil {
			return err
		}
		res, err := c.PruneBackups(ctx, pos[0], *dry)
		if err != nil {
			return err
		}
		if pa.json() {
			return printJSON(env.Stdout, res)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tACTION\tREASON")
		for _, d := range res.Decisions {
			action := d.Action
			if action == "delete" && *dry {
				action = "would delete"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(d.ID), action, safe(d.Reason))
		}
		return tw.Flush()
	})

	g := group("backup", "backups: list, run, verify, restore, prune", long, list, runC, verify, restore, prune)
	return g
}

func backupList(ctx context.Context, env *Env, a *apiCmd, pos []string, source string, limit int) error {
	c, err := a.connect(pos, 0, backupUsage)
	if err != nil {
		return err
	}
	l, err := c.Backups(ctx, source, limit)
	if err != nil {
		return err
	}
	if a.json() {
		return printJSON(env.Stdout, l)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "ID\tSOURCE\tKIND\tDESTINATION\tSTARTED\tTOOK\tSIZE\tRESULT\tVERIFIED")
	for _, b := range l.Backups {
		took := "-"
		if !b.Ended.IsZero() {
			took = b.Ended.Sub(b.Started).Round(time.Millisecond).String()
		}
		verified := "no"
		switch {
		case b.Verified():
			verified = fmtTime(b.VerifiedAt)
		case b.VerifyError != "":
			verified = "FAILED: " + oneLine(b.VerifyError, 60)
		}
		result := b.Result
		if b.Error != "" {
			result += ": " + oneLine(b.Error, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(b.ID), safe(b.Source), safe(b.Kind), safe(b.Destination),
			fmtTime(b.Started), took, sizeOf(b.Size), safe(result), safe(verified))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(l.Backups) == 0 {
		fmt.Fprintf(env.Stdout, "no backups yet; sources: %s\n", safe(strings.Join(l.Sources, ", ")))
	}
	return nil
}

func printBackup(env *Env, a *apiCmd, b ledger.BackupRecord) error {
	if a.json() {
		return printJSON(env.Stdout, b)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintf(tw, "backup\t%s\nsource\t%s (%s) → %s\nstarted\t%s\ntook\t%s\nsize\t%s\nresult\t%s\n", safe(b.ID), safe(b.Source), safe(b.Kind),
		safe(b.Destination), fmtTime(b.Started), b.Ended.Sub(b.Started).Round(time.Millisecond), sizeOf(b.Size), safe(b.Result))
	switch {
	case b.Verified():
		fmt.Fprintf(tw, "verified\t%s\n", fmtTime(b.VerifiedAt))
	case b.VerifyError != "":
		fmt.Fprintf(tw, "verified\tFAILED: %s\n", safe(b.VerifyError))
	default:
		fmt.Fprintf(tw, "verified\tno\n")
	}
	return tw.Flush()
}

func sizeOf(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// backupProgress shows a long backup operation: a bar on a terminal (by
// bytes, per stage), a log line per stage and every 10 s otherwise.
// done ends it.
func backupProgress(env *Env, label string) (backup.Progress, func(error)) {
	return progressOf(env, label, "asking the node")
}

// progressOf is backupProgress whose first log line says first.
func progressOf(env *Env, label, first string) (backup.Progress, func(error)) {
	start := time.Now()
	if f, ok := env.Stderr.(*os.File); ok && isTerminal(f) {
		p := mpb.New(mpb.WithOutput(f), mpb.WithWidth(40))
		var stage atomic.Value // written here, read by mpb's goroutine
		stage.Store("starting")
		bar := p.AddBar(0, mpb.PrependDecorators(decor.Name(label+" "), decor.Any(func(decor.Statistics) string { return stage.Load().(string) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), decor.Name(" "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
		return func(s string, done, total int64) {
				if s != stage.Load().(string) {
					stage.Store(s)
					bar.SetCurrent(0)
				}
				if total > 0 {
					bar.SetTotal(total, false)
				}
				bar.SetCurrent(done)
			}, func(err error) {
				if err != nil {
					bar.Abort(false)
				} else {
					bar.SetTotal(-1, true)
				}
				p.Wait()
			}
	}
	last, lastAt := "", time.Time{}
	fmt.Fprintf(env.Stderr, "%s: %s\n", label, first)
	return func(s string, done, total int64) {
			if s == last && time.Since(lastAt) < 10*time.Second {
				return
			}
			last, lastAt = s, time.Now()
			of := ""
			if total > 0 {
				of = " of " + sizeOf(total)
			}
			fmt.Fprintf(env.Stderr, "%s: %s %s%s after %s\n", label, s, sizeOf(done), of, time.Since(start).Round(time.Millisecond))
		}, func(err error) {
			if err == nil {
				fmt.Fprintf(env.Stderr, "%s: done in %s\n", label, time.Since(start).Round(time.Millisecond))
			}
		}
}

// restoreUsage is "unyo restore"'s usage line.
const restoreUsage = `usage: unyo restore GENERATION_DIR --data-dir PATH [--new-cluster]
       unyo restore --config FILE --destination NAME GENERATION --data-dir PATH [--new-cluster]`

// restoreCmd is "unyo restore": rebuild a node's data directory from a
// self backup, offline, without the catalog.
func restoreCmd(env *Env) *cobra.Command {
	c := &cobra.Command{Use: "restore (GENERATION_DIR | --config FILE --destination NAME GENERATION)", Short: "rebuild a node's data directory from a self backup (offline)",
		Long: `Rebuild a lost node from a self backup, without a running node or the catalog.
The generation is read either from a directory or straight from a
configured destination (a dir or an S3 bucket):
  GENERATION_DIR   a generation's directory on a dir destination
                   (<dir>/self-NODE/self-NODE.N)
  --config FILE --destination NAME GENERATION
                   GENERATION (self-NODE.N, as 'unyo backup list' shows
                   it) on the destination NAME of the node configuration
                   FILE (its credentials resolved as the node does:
                   ${env:NAME}, file:PATH); nothing is copied down first
A generation holds data.tar.zst, ledger.sqlite.zst, config.yaml and
manifest.json. Every object is checked against the manifest's SHA-256,
the Raft snapshot is read back in full, the ledger is checked with PRAGMA
integrity_check, and the data directory is written to --data-dir, which
must not exist or be empty. The node's configuration file of the backup
is written beside it as <data-dir>.config.yaml. Then start the node:
unyo serve --config ...

The restored Raft state is a past copy, so the next start treats it by a
marker the restore leaves in <data-dir>/raft:
  default          a node of a one-member cluster carries on with it; a
                   node of a bigger cluster discards it and rejoins a live
                   member (cluster.join must be set), which sends it the
                   current state: it never campaigns with stale state.
  --new-cluster    every member is lost: the node becomes a new cluster of
                   itself alone with the backup's state (Raft membership
                   reset); the other nodes then join it with empty data
                   directories.
docs/backup.md has the steps for a lost node and a lost cluster.`}
	dataDir := c.Flags().String("data-dir", "", "the node's data directory to write (new or empty)")
	newCluster := c.Flags().Bool("new-cluster", false, "every member is lost: make the restored node a new one-member cluster")
	cfgPath := c.Flags().String("config", "", "a node configuration file whose backup.destinations has --destination")
	_ = c.MarkFlagFilename("config", "yaml", "yml")
	destName := c.Flags().String("destination", "", "the configured destination (dir or s3) to read GENERATION from (with --config)")
	c.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) != 1 || *dataDir == "" {
			return usagef("%s", restoreUsage)
		}
		to := backup.Target{Path: *dataDir}
		var (
			m   *backup.Manifest
			err error
		)
		switch {
		case *cfgPath == "" && *destName == "":
			p, done := progressOf(env, "restore", "reading "+safe(pos[0]))
			m, err = backup.RestoreDir(ctx, pos[0], to, nil, p)
			done(err)
		case *cfgPath == "" || *destName == "":
			return usagef("--config and --destination go together (a generation on a configured destination); a generation directory takes neither\n%s", restoreUsage)
		default:
			m, err = restoreFromDestination(ctx, env, *cfgPath, *destName, pos[0], to)
		}
		if err != nil {
			return err
		}
		return restored(env, m, *dataDir, *newCluster)
	})
	return c
}

// restoreFromDestination restores generation id from the destination
// name configured in the node configuration file cfgPath.
func restoreFromDestination(ctx context.Context, env *Env, cfgPath, name, id string, to backup.Target) (*backup.Manifest, error) {
	if strings.ContainsRune(id, '/') || strings.ContainsRune(id, filepath.Separator) {
		return nil, usagef("GENERATION %s: with --destination, give the generation's id (self-NODE.N), not a directory; a generation directory is given without --config and --destination\n%s", safe(id), restoreUsage)
	}
	pfx, err := backup.GenerationPrefix(id)
	if err != nil {
		return nil, usagef("%v", err)
	}
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	d, err := backup.NewDestination(cfg.Backup, name)
	if err != nil {
		return nil, usagef("--destination: %v (in %s)", err, safe(cfgPath))
	}
	p, done := progressOf(env, "restore "+safe(id), "reading "+safe(d.Where(pfx)))
	m, err := backup.RestoreFrom(ctx, d, pfx, to, nil, p)
	done(err)
	return m, err
}

// restored finishes a restore of m into dataDir: a self backup's Raft
// restore marker, and what was done.
func restored(env *Env, m *backup.Manifest, dataDir string, newCluster bool) error {
	if m.Kind != backup.KindSelf {
		if newCluster {
			return fmt.Errorf("restored %s (%s) into %s, but --new-cluster needs a self backup", safe(m.ID), m.Kind, safe(dataDir))
		}
		fmt.Fprintf(env.Stdout, "restored %s (%s) into %s\n", safe(m.ID), m.Kind, safe(dataDir))
		return nil
	}
	fmt.Fprintf(env.Stdout, "restored node %s from %s into %s\n", safe(m.Node), safe(m.ID), safe(dataDir))
	raftDir := filepath.Join(dataDir, filepath.FromSlash(cmp.Or(m.RaftDir, "raft")))
	if _, err := os.Stat(raftDir); err == nil {
		mode := cluster.RestoreRejoin
		if newCluster {
			mode = cluster.RestoreNewCluster
		}
		if err := cluster.WriteRestoreMarker(raftDir, cluster.RestoreMarker{Mode: mode, Backup: m.ID, Node: m.Node, At: time.Now().UTC()}); err != nil {
			return err
		}
		if newCluster {
			fmt.Fprintf(env.Stdout, "at its next start the node becomes a new cluster of itself alone; the other nodes join it with empty data directories\n")
		} else {
			fmt.Fprintf(env.Stdout, "at its next start the node rejoins its cluster (a one-member cluster's node carries on)\n")
		}
	} else if newCluster {
		return fmt.Errorf("--new-cluster: the backup holds no Raft state (%s)", safe(raftDir))
	}
	if _, ok := m.Object(backup.SelfConfigFile); ok {
		fmt.Fprintf(env.Stdout, "its configuration: %s.config.yaml (node.data_dir there is %s)\n", safe(strings.TrimRight(dataDir, "/")), safe(m.DataDir))
	}
	return nil
}
