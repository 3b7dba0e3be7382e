package backup

import (
	"context"
	"fmt"
	"sync"

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
	return s3Clients.get(d.Name, S3Options{Endpoint: d.S3.Endpoint, Bucket: d.S3.Bucket, Prefix: d.S3.Prefix, Region: d.S3.Region,
		AccessKey: d.S3.AccessKey, SecretKey: string(d.S3.SecretKey), TLS: d.S3.UseTLS(), CAFile: d.S3.CAFile})
}

// s3Clients keeps the S3 destination built for each name, so Specs,
// called again for every job and API call, reuses its client and
// connections while the destination's settings stay the same.
var s3Clients = &s3Cache{m: map[string]s3Entry{}}

type s3Cache struct {
	mu sync.Mutex
	m  map[string]s3Entry
}

type s3Entry struct {
	opts S3Options
	dest *S3
}

func (c *s3Cache) get(name string, opts S3Options) (*S3, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[name]; ok && e.opts == opts {
		return e.dest, nil
	}
	d, err := NewS3(name, opts)
	if err != nil {
		return nil, err
	}
	c.m[name] = s3Entry{opts: opts, dest: d}
	return d, nil
}
