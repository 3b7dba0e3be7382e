package configs

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// BackupConfig is what the node backs up (package backup): destinations
// and sources; jobs of kind backup and backup-verify name a source.
type BackupConfig struct {
	Destinations []BackupDestination `yaml:"destinations" json:"destinations"`
	Sources      []BackupSource      `yaml:"sources" json:"sources"`
	// ScratchDir is where verifications restore ("": the system's
	// temporary directory). It needs room for the largest generation.
	ScratchDir string `yaml:"scratch_dir" json:"scratch_dir"`
	// AgeCheckInterval is how often the leader checks every source's
	// max_age (incident backup-too-old) besides backup-verify jobs;
	// 0 turns the periodic check off. Default 15m.
	AgeCheckInterval time.Duration `yaml:"age_check_interval" json:"age_check_interval"`
}

// BackupDestination is where generations are written: a local or mounted
// directory (Dir) or a bucket of an S3-compatible store (S3); exactly one.
type BackupDestination struct {
	Name string `yaml:"name" json:"name"`
	// Dir is an absolute path; each generation goes to
	// <dir>/<source>/<source>.<generation>/ (a self source's:
	// <dir>/<source>-<node>/<source>-<node>.<generation>/).
	Dir string `yaml:"dir" json:"dir"`
	// S3 is a bucket; each generation's objects are
	// <prefix>/<source>/<source>.<generation>/<name>.
	S3 *BackupS3 `yaml:"s3" json:"s3,omitempty"`
}

// BackupS3 is a bucket of an S3-compatible store (AWS S3, MinIO,
// versitygw, Ceph RGW, ...).
type BackupS3 struct {
	// Endpoint is the store's host:port (no scheme).
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	Bucket   string `yaml:"bucket" json:"bucket"`
	// Prefix, if set, is put before every object name (a relative
	// slash-separated path: "unyo/site-a").
	Prefix string `yaml:"prefix" json:"prefix"`
	// Region is the bucket's region ("": the store's default).
	Region string `yaml:"region" json:"region"`
	// AccessKey and SecretKey are the credentials, both or neither
	// (anonymous). SecretKey is a secret: ${env:NAME} or file:PATH.
	AccessKey string `yaml:"access_key" json:"access_key"`
	SecretKey Secret `yaml:"secret_key" json:"secret_key"`
	// TLS dials the endpoint over https; default true.
	TLS *bool `yaml:"tls" json:"tls"`
	// CAFile, if set, is a PEM file of the CA certificates to trust for
	// the endpoint instead of the system's (a private CA).
	CAFile string `yaml:"ca_file" json:"ca_file"`
}

// UseTLS reports whether the store is dialed over https (tls, default
// true).
func (s *BackupS3) UseTLS() bool { return s.TLS == nil || *s.TLS }

// BackupSource is one thing backed up.
type BackupSource struct {
	Name string `yaml:"name" json:"name"`
	// Kind: dir (directories and files, tar + zstd), postgres (pg_dump
	// -Fc), sqlite (VACUUM INTO; default the ledger), self (this node's
	// data directory with its ledger, Raft state and keys).
	Kind string `yaml:"kind" json:"kind"`
	// Paths are the absolute directories and files of a dir source.
	Paths []string `yaml:"paths" json:"paths"`
	// Postgres is the database of a postgres source.
	Postgres BackupPostgres `yaml:"postgres" json:"postgres"`
	// SQLite is the database file of a sqlite source (default
	// ledger.sqlite.path).
	SQLite      BackupSQLite `yaml:"sqlite" json:"sqlite"`
	Destination string       `yaml:"destination" json:"destination"`
	Keep        BackupKeep   `yaml:"keep" json:"keep"`
	// MaxAge raises an incident (runbook backup-too-old) when the newest
	// verified generation ended longer ago (0: never).
	MaxAge time.Duration `yaml:"max_age" json:"max_age"`
}

// BackupPostgres names a database to dump.
type BackupPostgres struct {
	// URL is a postgres:// URL of the database; it may hold a password
	// (a Secret: ${env:NAME} or file:PATH), which reaches pg_dump only in
	// a PGPASSFILE, never on its command line.
	URL Secret `yaml:"url" json:"url"`
}

// BackupSQLite names an SQLite database file.
type BackupSQLite struct {
	Path string `yaml:"path" json:"path"`
}

// BackupKeep is a source's policy, in restic's style: the last N
// generations and the newest of each of the last N days, weeks and
// months. All zero keeps everything. Whatever it says, a generation is
// deleted only once a newer one is verified.
type BackupKeep struct {
	Last    int `yaml:"last" json:"last"`
	Daily   int `yaml:"daily" json:"daily"`
	Weekly  int `yaml:"weekly" json:"weekly"`
	Monthly int `yaml:"monthly" json:"monthly"`
}

// Backup source kinds.
const (
	BackupKindDir      = "dir"
	BackupKindPostgres = "postgres"
	BackupKindSQLite   = "sqlite"
	BackupKindSelf     = "self"
)

// Source returns the source named name.
func (s *BackupConfig) Source(name string) (BackupSource, bool) {
	for _, src := range s.Sources {
		if src.Name == name {
			return src, true
		}
	}
	return BackupSource{}, false
}

func (s *BackupConfig) defaults() { s.AgeCheckInterval = DefaultBackupAgeCheckInterval }

// DefaultBackupAgeCheckInterval is backup.age_check_interval's default.
const DefaultBackupAgeCheckInterval = 15 * time.Minute

func (s *BackupConfig) resolve(c *Config, dir string) {
	if len(s.Destinations) == 0 {
		s.Destinations = nil
	}
	if len(s.Sources) == 0 {
		s.Sources = nil
	}
	s.ScratchDir = resolvePath(dir, s.ScratchDir)
	for i := range s.Destinations {
		if d := s.Destinations[i].S3; d != nil {
			if d.TLS == nil {
				t := true
				d.TLS = &t
			}
			d.CAFile = resolvePath(dir, d.CAFile)
		}
	}
	for i := range s.Sources {
		src := &s.Sources[i]
		if len(src.Paths) == 0 {
			src.Paths = nil
		}
		if src.Kind == BackupKindSQLite && src.SQLite.Path == "" {
			src.SQLite.Path = c.Ledger.SQLite.Path
		}
		src.SQLite.Path = resolvePath(dir, src.SQLite.Path)
	}
}

var backupNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

func (s *BackupConfig) validate(_ *Config, v validator) {
	dests := map[string]int{}
	for i, d := range s.Destinations {
		dv := v.sub(fmt.Sprintf("destinations[%d]", i))
		switch {
		case !backupNameRE.MatchString(d.Name):
			dv.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", quote(d.Name))
		default:
			if first, dup := dests[d.Name]; dup {
				dv.errf("name", "%s: already the name of destinations[%d]", quote(d.Name), first)
			}
			dests[d.Name] = i
		}
		switch {
		case d.S3 != nil && d.Dir != "":
			dv.errf("s3", "set dir or s3, not both")
		case d.S3 != nil:
			d.S3.validate(dv.sub("s3"))
		case d.Dir == "":
			dv.errAt("dir", dv.field("name"), "want dir (an absolute path) or s3 (a bucket)")
		case !filepath.IsAbs(d.Dir):
			dv.errf("dir", "%s: want an absolute path", quote(d.Dir))
		}
	}
	if s.AgeCheckInterval < 0 {
		v.errf("age_check_interval", "%s: want 0 (off) or more", s.AgeCheckInterval)
	}
	srcs := map[string]int{}
	for i, src := range s.Sources {
		sv := v.sub(fmt.Sprintf("sources[%d]", i))
		switch {
		case !backupNameRE.MatchString(src.Name):
			sv.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", quote(src.Name))
		default:
			if first, dup := srcs[src.Name]; dup {
				sv.errf("name", "%s: already the name of sources[%d]", quote(src.Name), first)
			}
			srcs[src.Name] = i
		}
		switch src.Kind {
		case BackupKindDir:
			if len(src.Paths) == 0 {
				sv.errAt("paths", sv.field("kind"), "want at least one path for a dir source")
			}
			for k, p := range src.Paths {
				if !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
					sv.errf(fmt.Sprintf("paths[%d]", k), "%s: want an absolute path other than /", quote(p))
				}
			}
		case BackupKindPostgres:
			u := string(src.Postgres.URL)
			if !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
				sv.sub("postgres").errAt("url", sv.field("kind"), "want a postgres:// URL of the database for a postgres source")
			}
		case BackupKindSQLite, BackupKindSelf:
		default:
			sv.errf("kind", "%s: want dir, postgres, sqlite or self", quote(src.Kind))
		}
		if src.Kind != BackupKindDir && len(src.Paths) > 0 {
			sv.errf("paths", "only a dir source has paths (kind is %s)", quote(src.Kind))
		}
		if _, ok := dests[src.Destination]; !ok {
			sv.errAt("destination", sv.field("name"), "%s: no such destination in backup.destinations", quote(src.Destination))
		}
		kv := sv.sub("keep")
		for _, k := range []struct {
			key string
			n   int
		}{{"last", src.Keep.Last}, {"daily", src.Keep.Daily}, {"weekly", src.Keep.Weekly}, {"monthly", src.Keep.Monthly}} {
			if k.n < 0 || k.n > 10000 {
				kv.errf(k.key, "%d: want 0..10000", k.n)
			}
		}
		nonNegative(sv, "max_age", src.MaxAge)
	}
}

// JobBackup is the built-in backup and backup-verify jobs' source.
type JobBackup struct {
	// Source names a backup.sources entry; a backup-verify job without
	// one verifies the newest generation of every source.
	Source string `yaml:"source" json:"source"`
}

func (jb JobConfig) validateBackup(c *Config, v validator) {
	if jb.RunOn.Agent != "" || jb.RunOn.Tag != "" {
		v.sub("run_on").errAt("agent", v.field("kind"), "a %s job runs on a node (node or none), not on an agent", jb.Kind)
	}
	bv := v.sub("backup")
	switch {
	case jb.Backup.Source == "" && jb.Kind == JobKindBackup:
		bv.errAt("source", v.field("kind"), "want the name of a backup.sources entry for a backup job")
	case jb.Backup.Source != "":
		if _, ok := c.Backup.Source(jb.Backup.Source); !ok {
			bv.errf("source", "%s: no such source in backup.sources", quote(jb.Backup.Source))
		}
	}
}

// s3BucketRE: S3's bucket naming rules (3 to 63 of a-z, 0-9, '.', '-',
// a letter or digit first and last).
var s3BucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// s3RegionRE: a region name (us-east-1, eu-central-2, garage).
var s3RegionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func (s *BackupS3) validate(v validator) {
	switch {
	case s.Endpoint == "":
		v.errAt("endpoint", v.path, "required: the store's host:port")
	case strings.Contains(s.Endpoint, "://"):
		v.errf("endpoint", "%s: want host:port without a scheme (tls says https or http)", quote(s.Endpoint))
	default:
		if msg := checkHostPort(s.Endpoint); msg != "" {
			v.errf("endpoint", "%s", msg)
		} else if host, port, _ := net.SplitHostPort(s.Endpoint); host == "" || port == "0" {
			v.errf("endpoint", "%s: want a host and a port 1..65535", quote(s.Endpoint))
		}
	}
	switch {
	case s.Bucket == "":
		v.errAt("bucket", v.path, "required: the bucket's name")
	default:
		if msg := checkBucketName(s.Bucket); msg != "" {
			v.errf("bucket", "%s: %s", quote(s.Bucket), msg)
		}
	}
	if msg := checkS3Prefix(s.Prefix); msg != "" {
		v.errf("prefix", "%s: %s", quote(s.Prefix), msg)
	}
	if s.Region != "" && !s3RegionRE.MatchString(s.Region) {
		v.errf("region", "%s: want 1 to 64 of A-Z, a-z, 0-9, '-', '_' (e.g. us-east-1)", quote(s.Region))
	}
	// Never quote the secret key.
	switch {
	case s.AccessKey != "" && s.SecretKey == "":
		v.errAt("secret_key", v.field("access_key"), "required with access_key (a secret: ${env:NAME} or file:PATH)")
	case s.AccessKey == "" && s.SecretKey != "":
		v.errAt("access_key", v.field("secret_key"), "required with secret_key")
	}
	if s.CAFile != "" {
		if !s.UseTLS() {
			v.errf("ca_file", "%s: only with tls: true", quote(s.CAFile))
		} else if msg := checkReadableFile(s.CAFile); msg != "" {
			v.errf("ca_file", "%s", msg)
		}
	}
}

// checkBucketName returns what is wrong with an S3 bucket name, or "".
func checkBucketName(b string) string {
	switch {
	case !s3BucketRE.MatchString(b):
		return "want 3 to 63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit"
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return "no '..', '.-' or '-.' in a bucket name"
	case net.ParseIP(b) != nil:
		return "a bucket name is not an IP address"
	case strings.HasPrefix(b, "xn--"), strings.HasSuffix(b, "-s3alias"), strings.HasSuffix(b, "--ol-s3"):
		return "reserved prefix or suffix (xn--, -s3alias, --ol-s3)"
	}
	return ""
}

// checkS3Prefix returns what is wrong with an object name prefix, or "":
// "" or a relative slash-separated path without '.' or '..' parts (a
// trailing slash is allowed).
func checkS3Prefix(p string) string {
	if p == "" {
		return ""
	}
	t := strings.TrimSuffix(p, "/")
	if t == "" || strings.HasPrefix(t, "/") || strings.Contains(t, "\\") || path.Clean(t) != t || t == ".." || strings.HasPrefix(t, "../") {
		return "want a relative path of names separated by '/' (no '.', '..' or empty parts)"
	}
	if len(p) > 512 {
		return "longer than 512 bytes"
	}
	return ""
}
