package backup

import (
	"context"
	"fmt"

	"github.com/unyo-ops/unyo/configs"
)

// Env is what the sources of a node need besides the configuration.
type Env struct {
	// Node and DataDir are the node's name and data directory (self).
	Node    string
	DataDir string
	// LedgerPath is the embedded ledger's file ("" with PostgreSQL).
	LedgerPath string
	// ConfigFile is the node's configuration file (kept by self).
	ConfigFile string
	// TempDir holds temporary copies ("": the system's).
	TempDir string
	// RaftDir and RaftSnapshot: the node's Raft data directory and a
	// function snapshotting it for a backup (SelfSource).
	RaftDir      string
	RaftSnapshot func(ctx context.Context) (string, error)
	// Exclude are directories a self backup leaves out (the JetStream
	// store: see SelfSource).
	Exclude []string
}

// Specs builds the sources of a (validated) backup configuration.
func Specs(c configs.BackupConfig, env Env) (map[string]Spec, error) {
	dests := map[string]Destination{}
	for _, d := range c.Destinations {
		dest, err := destination(d)
		if err != nil {
			return nil, err
		}
		dests[d.Name] = dest
	}
	out := map[string]Spec{}
	for _, s := range c.Sources {
		sp := Spec{Name: s.Name, Destination: dests[s.Destination], MaxAge: s.MaxAge,
			Policy: Policy{Last: s.Keep.Last, Daily: s.Keep.Daily, Weekly: s.Keep.Weekly, Monthly: s.Keep.Monthly}}
		if sp.Destination == nil {
			return nil, fmt.Errorf("backup source %s: no destination %q", s.Name, s.Destination)
		}
		switch s.Kind {
		case configs.BackupKindDir:
			sp.Source = &DirSource{Paths: s.Paths}
		case configs.BackupKindPostgres:
			sp.Source = &PostgresSource{URL: string(s.Postgres.URL), TempDir: env.TempDir}
		case configs.BackupKindSQLite:
			sp.Source = &SQLiteSource{Path: s.SQLite.Path, TempDir: env.TempDir}
		case configs.BackupKindSelf:
			sp.Source = &SelfSource{Node: env.Node, DataDir: env.DataDir, LedgerPath: env.LedgerPath, ConfigFile: env.ConfigFile, TempDir: env.TempDir,
				RaftDir: env.RaftDir, RaftSnapshot: env.RaftSnapshot, Exclude: env.Exclude}
		default:
			return nil, fmt.Errorf("backup source %s: kind %q", s.Name, s.Kind)
		}
		out[s.Name] = sp
	}
	return out, nil
}

// destination builds a configured destination: a Dir, or an S3 bucket
// (no request is made yet).
func destination(d configs.BackupDestination) (Destination, error) {
	if d.S3 == nil {
		return &Dir{DestName: d.Name, Root: d.Dir}, nil
	}
	return NewS3(d.Name, S3Options{Endpoint: d.S3.Endpoint, Bucket: d.S3.Bucket, Prefix: d.S3.Prefix, Region: d.S3.Region,
		AccessKey: d.S3.AccessKey, SecretKey: string(d.S3.SecretKey), TLS: d.S3.UseTLS(), CAFile: d.S3.CAFile})
}
