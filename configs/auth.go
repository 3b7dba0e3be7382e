package configs

import (
	"path/filepath"
	"time"
)

// AuthConfig configures identities on the node: sessions, /metrics and
// the first admin. Users, tokens and the audit log live in the ledger
// (`unyo user`, `unyo token`, `unyo audit`), not in this file.
type AuthConfig struct {
	// SessionTTL is how long a login lasts.
	SessionTTL time.Duration `yaml:"session_ttl" json:"session_ttl"`
	// OpenMetrics lets anyone read /metrics (for a Prometheus without a
	// token); otherwise /metrics needs a token (viewer or above).
	OpenMetrics bool `yaml:"open_metrics" json:"open_metrics"`
	// AdminTokenFile is where the first admin's token is written on the
	// first start (mode 0600). Default: <data_dir>/admin.token.
	AdminTokenFile string `yaml:"admin_token_file" json:"admin_token_file"`
}

// --- auth ---

func (s *AuthConfig) defaults() { s.SessionTTL = 12 * time.Hour }

func (s *AuthConfig) resolve(c *Config, dir string) {
	if s.AdminTokenFile == "" {
		s.AdminTokenFile = filepath.Join(c.Node.DataDir, "admin.token") // data_dir is resolved already
	} else {
		s.AdminTokenFile = resolvePath(dir, s.AdminTokenFile)
	}
}

func (s *AuthConfig) validate(_ *Config, v validator) {
	if s.SessionTTL < time.Minute || s.SessionTTL > 30*24*time.Hour {
		v.errf("session_ttl", "%s: want 1m to 720h", fmtDuration(s.SessionTTL))
	}
}
