package configs

import (
	"os"
	"time"
)

// ReleasesConfig configures agent releases and rollouts (the rollout
// package): the trusted minisign key releases are signed with, their size
// limit, and a rollout's defaults.
type ReleasesConfig struct {
	// PublicKeyFile is the minisign public key (minisign -G's .pub)
	// every release binary must be signed with; without it `unyo release
	// add` is refused.
	PublicKeyFile string `yaml:"public_key_file" json:"public_key_file"`
	// MaxBytes limits a release binary (default 200 MiB).
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// MaxConcurrent agents update at once, cluster-wide (default 15).
	MaxConcurrent int `yaml:"max_concurrent" json:"max_concurrent"`
	// WatchPeriod is how long an agent's new binary has, from the swap,
	// to heartbeat before it is rolled back (default 2m).
	WatchPeriod time.Duration `yaml:"watch_period" json:"watch_period"`
	// Lease is how long an updating agent may go without progress while
	// downloading or verifying before it is marked failed (default 10m).
	Lease time.Duration `yaml:"lease" json:"lease"`
}

func (s *ReleasesConfig) defaults() {
	s.MaxBytes = 200 << 20
	s.MaxConcurrent = 15
	s.WatchPeriod = 2 * time.Minute
	s.Lease = 10 * time.Minute
}

func (s *ReleasesConfig) resolve(_ *Config, dir string) {
	s.PublicKeyFile = resolvePath(dir, s.PublicKeyFile)
}

func (s *ReleasesConfig) validate(_ *Config, v validator) {
	if s.PublicKeyFile != "" {
		if _, err := os.Stat(s.PublicKeyFile); err != nil {
			v.errf("public_key_file", "%s", err)
		}
	}
	if s.MaxBytes < 1<<20 || s.MaxBytes > 2<<30 {
		v.errf("max_bytes", "%d: want 1048576 (1 MiB) to 2147483648 (2 GiB)", s.MaxBytes)
	}
	if s.MaxConcurrent < 1 || s.MaxConcurrent > 10000 {
		v.errf("max_concurrent", "%d: want 1 to 10000", s.MaxConcurrent)
	}
	if s.WatchPeriod < time.Second {
		v.errf("watch_period", "%s: want at least 1s", s.WatchPeriod)
	}
	if s.Lease < time.Second {
		v.errf("lease", "%s: want at least 1s", s.Lease)
	}
}
