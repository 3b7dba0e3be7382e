package configs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"gopkg.in/yaml.v3"
)

// Config is a whole unyo node configuration. Every top-level field is a
// section (see the section interface); Hash and Source describe where it was
// loaded from and are not part of the YAML.
type Config struct {
	Node     NodeConfig     `yaml:"node" json:"node"`
	HTTP     HTTPConfig     `yaml:"http" json:"http"`
	NATS     NATSConfig     `yaml:"nats" json:"nats"`
	Ledger   LedgerConfig   `yaml:"ledger" json:"ledger"`
	Pipeline PipelineConfig `yaml:"pipeline" json:"pipeline"`
	Log      LogConfig      `yaml:"log" json:"log"`
	Alerting AlertingConfig `yaml:"alerting" json:"alerting"`
	Jobnets  JobnetsConfig  `yaml:"jobnets" json:"jobnets"`
	Monitor  MonitorConfig  `yaml:"monitor" json:"monitor"`
	Cluster  ClusterConfig  `yaml:"cluster" json:"cluster"`
	Auth     AuthConfig     `yaml:"auth" json:"auth"`
	Releases ReleasesConfig `yaml:"releases" json:"releases"`
	Agents   AgentsConfig   `yaml:"agents" json:"agents"`
	Backup   BackupConfig   `yaml:"backup" json:"backup"`
	Runbooks RunbooksConfig `yaml:"runbooks" json:"runbooks"`

	// Hash is the hex SHA-256 of the bytes the config was parsed from
	// (of no bytes for Default).
	Hash string `yaml:"-" json:"-"`
	// Source is the file name the config was loaded from ("" for Default).
	Source string `yaml:"-" json:"-"`

	// given is the key paths written in the file (with their lines),
	// while it is resolved: a default derived in resolve applies only to
	// a key the file leaves out.
	given map[string]int
}

// isGiven reports whether the file wrote the key at path
// ("jobnets[0].misfire.grace").
func (c *Config) isGiven(path string) bool {
	_, ok := c.given[path]
	return ok
}

// NodeConfig identifies this node and where it keeps its state.
type NodeConfig struct {
	// Name of the node; defaults to the host name, lower-cased.
	Name string `yaml:"name" json:"name"`
	// DataDir holds the node's state; relative paths are resolved against
	// the config file's directory.
	DataDir string `yaml:"data_dir" json:"data_dir"`
	// Site is an optional site label, e.g. "tokyo-1".
	Site string `yaml:"site" json:"site"`
}

// HTTPConfig is the console, API and /metrics listener.
type HTTPConfig struct {
	Listen       string        `yaml:"listen" json:"listen"`
	ReadTimeout  time.Duration `yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout time.Duration `yaml:"write_timeout" json:"write_timeout"`
	// ExternalURL is the absolute URL used in links (notifications, the
	// console); defaults to http://<listen>, https://<listen> with TLS.
	ExternalURL string `yaml:"external_url" json:"external_url"`
	// TLS serves HTTPS (HTTP/2 and HTTP/1.1) when cert_file and key_file
	// are set.
	TLS HTTPTLSConfig `yaml:"tls" json:"tls"`
	// Insecure allows plain HTTP on a listen address other than loopback.
	// Without it such a node refuses to start.
	Insecure bool `yaml:"insecure" json:"insecure"`
}

// HTTPTLSConfig are the PEM files of the HTTPS listener and of the node's
// HTTPS calls to the other members.
type HTTPTLSConfig struct {
	// CertFile and KeyFile are this node's certificate (with its chain)
	// and key; both or neither. They are read again when they change.
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// ClientCAFile, if set, asks clients for a certificate and verifies it
	// against this CA bundle (see ClientAuth).
	ClientCAFile string `yaml:"client_ca_file" json:"client_ca_file"`
	// ClientAuth is "require" (default: a client without a certificate
	// signed by client_ca_file is refused) or "verify_if_given" (a client
	// may come without one, e.g. a browser or a CLI using a token).
	ClientAuth string `yaml:"client_auth" json:"client_auth"`
	// CAFile is the CA bundle that signed the other members' HTTPS
	// certificates, trusted by this node's calls to them; default: the
	// system's roots.
	CAFile string `yaml:"ca_file" json:"ca_file"`
}

// Enabled reports whether the listener serves HTTPS.
func (t HTTPTLSConfig) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// Client authentication modes of http.tls.client_auth.
const (
	ClientAuthRequire       = "require"
	ClientAuthVerifyIfGiven = "verify_if_given"
)

// NATSConfig is the message bus: an external NATS (URL set) or the
// in-process embedded server (URL empty).
type NATSConfig struct {
	// URL is a comma-separated list of nats:// (or tls://) server URLs;
	// empty runs the embedded server.
	URL      URLs               `yaml:"url" json:"url"`
	Embedded NATSEmbeddedConfig `yaml:"embedded" json:"embedded"`
	Stream   NATSStreamConfig   `yaml:"stream" json:"stream"`
	// Spool is the node-local durable spool every ingest path writes to
	// before the bus (package bus/spool).
	Spool NATSSpoolConfig `yaml:"spool" json:"spool"`
	// TaskSigning is the key the node signs the job tasks it dispatches
	// with, and the keys its own built-in agent trusts.
	TaskSigning NATSTaskSigningConfig `yaml:"task_signing" json:"task_signing"`
	// AuthCallout makes the nodes the authorisation service of an
	// external NATS (nats.url) for the agents enrolled at run time.
	AuthCallout NATSAuthCalloutConfig `yaml:"auth_callout" json:"auth_callout"`
}

// NATSAuthCalloutConfig: an external nats-server (≥ 2.10) configured with
// an auth_callout block asks the nodes about each connecting client
// (except the nodes' own user, one of its auth_users); a node lets in
// the NKey of an enabled enrolled agent with that agent's permissions
// only (bus.AgentPermissions) and refuses everyone else.
type NATSAuthCalloutConfig struct {
	// IssuerSeed is the account NKey seed (SA...) the answers are signed
	// with; its public key is the server's auth_callout issuer. A
	// secret: write it as file:PATH or ${env:NAME}.
	IssuerSeed Secret `yaml:"issuer_seed" json:"issuer_seed"`
	// Account is the server account the agents are placed in: the one
	// of the nodes' user (where the streams are).
	Account string `yaml:"account" json:"account"`
	// TTL, if set, makes an agent's authorisation expire: the server
	// closes its connection and the agent, reconnecting, is asked about
	// again (a disabled agent is then refused). 0: for the connection's
	// life.
	TTL time.Duration `yaml:"ttl" json:"ttl"`
}

// Enabled reports whether the block is set.
func (a NATSAuthCalloutConfig) Enabled() bool { return a.IssuerSeed != "" || a.Account != "" }

// NATSTaskSigningConfig: the leader signs every job task it sends to an
// agent (ed25519); agents run only tasks signed by a key they trust.
type NATSTaskSigningConfig struct {
	// KeyFile is this node's private key (PEM, PKCS#8), created with mode
	// 0600 on first start when missing; the public key is written next to
	// it (".pub" for ".key"). Default <data_dir>/task-signing.key.
	KeyFile string `yaml:"key_file" json:"key_file"`
	// TrustedKeys are public key files (PEM) of the other nodes of a
	// cluster, trusted by this node's built-in agent (run_on.node) along
	// with its own key. Not needed when every node has the same key file.
	TrustedKeys []string `yaml:"trusted_keys" json:"trusted_keys"`
	// TTL is how long a signed task stays valid. Default 10m.
	TTL time.Duration `yaml:"ttl" json:"ttl"`
}

// NATSEmbeddedConfig configures the in-process NATS server; ignored when
// nats.url is set.
type NATSEmbeddedConfig struct {
	// Listen is empty for an in-process-only server, else host:port.
	Listen     string `yaml:"listen" json:"listen"`
	StoreDir   string `yaml:"store_dir" json:"store_dir"`
	SyncAlways bool   `yaml:"sync_always" json:"sync_always"`
	// Cluster joins the embedded servers of several nodes into one NATS
	// cluster (routes) with JetStream clustered.
	Cluster NATSClusterConfig `yaml:"cluster" json:"cluster"`
	// TLS secures the client listener (listen) when its files are set.
	TLS NATSClientTLSConfig `yaml:"tls" json:"tls"`
	// Agents are the `unyo agent`s allowed to connect to the client
	// listener, each with permissions on its own subjects only. Whenever
	// the server listens for clients it requires authentication: only the
	// node itself and these agents connect.
	Agents []NATSAgentConfig `yaml:"agents" json:"agents"`
}

// NATSClientTLSConfig are the PEM files for TLS on the embedded server's
// client listener.
type NATSClientTLSConfig struct {
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// CAFile, if set, makes clients present a certificate signed by it.
	CAFile string `yaml:"ca_file" json:"ca_file"`
}

// Enabled reports whether client TLS is configured.
func (t NATSClientTLSConfig) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
}

// NATSAgentConfig is one agent's identity on the embedded server: its
// name (run_on.agent, and its user name), the tags it may take tasks for
// (run_on.tag), and a password or an NKey (exactly one).
type NATSAgentConfig struct {
	Name string   `yaml:"name" json:"name"`
	Tags []string `yaml:"tags" json:"tags"`
	// Password the agent gives (`unyo agent --password-file`); at least 16
	// characters.
	Password Secret `yaml:"password" json:"password"`
	// NKey is the agent's public user NKey (U...); the agent holds the
	// seed (`unyo agent --nkey FILE`).
	NKey string `yaml:"nkey" json:"nkey"`
}

// NATSClusterConfig is the embedded server's NATS cluster: with Listen
// set, it accepts routes there and dials Routes.
type NATSClusterConfig struct {
	// Name of the NATS cluster, the same on every node. Default "unyo".
	Name string `yaml:"name" json:"name"`
	// Listen is the route listener, host:port (port 0 picks one); empty:
	// no cluster.
	Listen string `yaml:"listen" json:"listen"`
	// Routes are the nodes' route listeners, nats-route://host:port or
	// host:port; the same list on every node, this node's own included, is
	// the usual way.
	Routes []string `yaml:"routes" json:"routes"`
	// TLS secures the routes with mutual TLS when its files are set.
	TLS NATSClusterTLSConfig `yaml:"tls" json:"tls"`
}

// NATSClusterTLSConfig are the PEM files for mutual TLS on routes; all
// three or none.
type NATSClusterTLSConfig struct {
	// CertFile is this node's certificate (for server and client auth).
	CertFile string `yaml:"cert_file" json:"cert_file"`
	KeyFile  string `yaml:"key_file" json:"key_file"`
	// CAFile is the CA bundle that signed every node's certificate.
	CAFile string `yaml:"ca_file" json:"ca_file"`
}

// Enabled reports whether route TLS is configured.
func (t NATSClusterTLSConfig) Enabled() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != ""
}

// NATSStreamConfig configures the JetStream stream that carries events.
type NATSStreamConfig struct {
	Replicas        int           `yaml:"replicas" json:"replicas"`
	MaxAge          time.Duration `yaml:"max_age" json:"max_age"`
	DuplicateWindow time.Duration `yaml:"duplicate_window" json:"duplicate_window"`
}

// NATSSpoolConfig configures the node-local spool in front of the bus.
type NATSSpoolConfig struct {
	// Dir holds the spool's segment files. Default <data_dir>/spool.
	Dir string `yaml:"dir" json:"dir"`
	// MaxBytes bounds the spool on disk; beyond it ingest is refused
	// (the events API answers 503 with Retry-After, receivers count a
	// rejection).
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	// AppendTimeout bounds how long an ingest waits for its events to be
	// durable in the spool (the events API's answer time).
	AppendTimeout time.Duration `yaml:"append_timeout" json:"append_timeout"`
	// ReadyMaxAge: /readyz is not ready while a message has waited in the
	// spool longer than this (the bus is not taking publishes).
	ReadyMaxAge time.Duration `yaml:"ready_max_age" json:"ready_max_age"`
}

// LedgerConfig selects and configures the fault ledger store.
type LedgerConfig struct {
	Driver   string               `yaml:"driver" json:"driver"`
	SQLite   LedgerSQLiteConfig   `yaml:"sqlite" json:"sqlite"`
	Postgres LedgerPostgresConfig `yaml:"postgres" json:"postgres"`
}

// Ledger drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// LedgerSQLiteConfig configures the embedded SQL store.
type LedgerSQLiteConfig struct {
	Path string `yaml:"path" json:"path"`
}

// LedgerPostgresConfig configures the PostgreSQL store.
type LedgerPostgresConfig struct {
	// URL is a postgres:// or postgresql:// connection URL; it may hold a
	// password, so it is a Secret.
	URL      Secret `yaml:"url" json:"url"`
	MaxConns int    `yaml:"max_conns" json:"max_conns"`
}

// PipelineConfig tunes the event → ledger pipeline.
type PipelineConfig struct {
	BatchSize int           `yaml:"batch_size" json:"batch_size"`
	AckWait   time.Duration `yaml:"ack_wait" json:"ack_wait"`
	// RetryBackoff is the first wait when the ledger is down; it doubles
	// up to MaxBackoff.
	RetryBackoff time.Duration `yaml:"retry_backoff" json:"retry_backoff"`
	MaxBackoff   time.Duration `yaml:"max_backoff" json:"max_backoff"`
	// ReadyMaxBacklog: /readyz is not ready while more events than this
	// wait on the bus for the ledger.
	ReadyMaxBacklog int `yaml:"ready_max_backlog" json:"ready_max_backlog"`
}

// LogConfig configures the node's structured log.
type LogConfig struct {
	Level  string `yaml:"level" json:"level"`
	Format string `yaml:"format" json:"format"`
}

// URLs is a comma-separated list of URLs whose passwords never print:
// String and the marshallers give each URL with its password as "xxxxx"
// (url.URL.Redacted). Use string(u) where the value itself is needed.
type URLs string

// String returns the list with passwords redacted.
func (u URLs) String() string {
	parts := strings.Split(string(u), ",")
	for i, p := range parts {
		if x, err := url.Parse(strings.TrimSpace(p)); err == nil && x.User != nil {
			if _, has := x.User.Password(); has {
				parts[i] = x.Redacted()
			}
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = secretMask // unparsable and may hold a password
		}
	}
	return strings.Join(parts, ",")
}

// GoString quotes the redacted list (%#v).
func (u URLs) GoString() string { return strconv.Quote(u.String()) }

// MarshalYAML gives the redacted list.
func (u URLs) MarshalYAML() (any, error) { return u.String(), nil }

// MarshalJSON gives the redacted list.
func (u URLs) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// Secret is a string that never prints: String, GoString, MarshalYAML,
// MarshalJSON and MarshalText give "<secret>" (or "" when it is empty). Use
// string(s) where the value itself is needed.
type Secret string

const secretMask = "<secret>"

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return secretMask
}

// String returns "<secret>", or "" for an empty secret.
func (s Secret) String() string { return s.mask() }

// GoString keeps %#v from printing the secret.
func (s Secret) GoString() string { return strconv.Quote(s.mask()) }

// MarshalYAML returns "<secret>", or "" for an empty secret.
func (s Secret) MarshalYAML() (any, error) { return s.mask(), nil }

// MarshalJSON returns "<secret>", or "" for an empty secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.mask()) }

// MarshalText returns "<secret>", or "" for an empty secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// String marshals the configuration back to YAML, secrets as "<secret>"
// and durations as written ("72h", not "72h0m0s"). It loads back to the same
// configuration, except for the secrets.
func (c *Config) String() string {
	var n yaml.Node
	if err := n.Encode(c); err != nil {
		return fmt.Sprintf("<config: %v>", err)
	}
	shortDurations(&n, reflect.ValueOf(c).Elem())
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return fmt.Sprintf("<config: %v>", err)
	}
	_ = enc.Close()
	return b.String()
}

// shortDurations rewrites the duration scalars of n, the encoding of v,
// with fmtDuration.
func shortDurations(n *yaml.Node, v reflect.Value) {
	switch {
	case n == nil || !v.IsValid():
	case v.Type() == durationType:
		if n.Kind == yaml.ScalarNode {
			n.Value = fmtDuration(time.Duration(v.Int()))
		}
	case v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface:
		if !v.IsNil() {
			shortDurations(n, v.Elem())
		}
	case v.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := fieldsOf(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			if idx, ok := fields[n.Content[i].Value]; ok {
				shortDurations(n.Content[i+1], v.FieldByIndex(idx))
			}
		}
	case v.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i := 0; i < v.Len() && i < len(n.Content); i++ {
			shortDurations(n.Content[i], v.Index(i))
		}
	case v.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v.Type().Key().Kind() == reflect.String {
				key := reflect.ValueOf(n.Content[i].Value).Convert(v.Type().Key())
				shortDurations(n.Content[i+1], v.MapIndex(key))
			}
		}
	}
}

// Default returns the configuration an empty file gives, with paths relative
// to the working directory.
func Default() *Config {
	c := &Config{}
	for _, s := range c.sections() {
		s.sec.defaults()
	}
	for _, s := range c.sections() {
		s.sec.resolve(c, ".")
	}
	return c
}

// section is one top-level block of the configuration.
type section interface {
	// defaults sets static defaults; it runs before decoding, so a value
	// written in the file (even a zero) replaces them.
	defaults()
	// resolve fills defaults derived from other values (the data directory,
	// the host name, the listen address) and resolves relative paths
	// against dir, the config file's directory. Sections resolve in field
	// order, so node (data_dir) comes first.
	resolve(c *Config, dir string)
	// validate reports problems; v's path is the section's key.
	validate(c *Config, v validator)
}

type namedSection struct {
	name string
	sec  section
}

// sections lists the top-level sections in field order, named by their
// yaml tags. Every yaml-tagged field of Config must implement section (a
// test checks it).
func (c *Config) sections() []namedSection {
	rv := reflect.ValueOf(c).Elem()
	rt := rv.Type()
	var out []namedSection
	for i := 0; i < rt.NumField(); i++ {
		name := yamlName(rt.Field(i))
		if name == "" {
			continue
		}
		if s, ok := rv.Field(i).Addr().Interface().(section); ok {
			out = append(out, namedSection{name, s})
		}
	}
	return out
}

// validate runs every section's validation.
func (c *Config) validate() []fieldErr {
	var errs []fieldErr
	for _, s := range c.sections() {
		s.sec.validate(c, validator{path: s.name, errs: &errs})
	}
	return errs
}

// fieldErr is a validation problem at a field path. at, if set, is the path
// whose line the error is reported at when path itself is not in the file
// (a missing required key is reported where the key that requires it is).
type fieldErr struct {
	path, at, msg string
}

// validator collects fieldErrs under a path prefix.
type validator struct {
	path string
	errs *[]fieldErr
}

func (v validator) sub(key string) validator {
	return validator{path: v.path + "." + key, errs: v.errs}
}

func (v validator) field(key string) string { return v.path + "." + key }

// errf reports a problem with the field key under v.
func (v validator) errf(key, format string, args ...any) {
	*v.errs = append(*v.errs, fieldErr{path: v.field(key), msg: fmt.Sprintf(format, args...)})
}

// errAt reports a problem with key, placed at the line of the field path at
// when key is not in the file.
func (v validator) errAt(key, at, format string, args ...any) {
	*v.errs = append(*v.errs, fieldErr{path: v.field(key), at: at, msg: fmt.Sprintf(format, args...)})
}

// Static defaults, also quoted in docs/configuration.md.
const (
	defaultDataDir = "./data"
	defaultListen  = "127.0.0.1:9780"
)

// --- node ---

var nodeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname

func (s *NodeConfig) defaults() {
	s.DataDir = defaultDataDir
}

func (s *NodeConfig) resolve(_ *Config, dir string) {
	if s.Name == "" {
		s.Name = defaultNodeName()
	}
	s.DataDir = resolvePath(dir, s.DataDir)
}

// defaultNodeName turns the host name into a valid node name.
func defaultNodeName() string {
	h, err := hostname()
	if err != nil {
		h = ""
	}
	h = strings.ToLower(h)
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "-_.")
	if len(name) > 63 {
		name = name[:63]
	}
	if !nodeNameRE.MatchString(name) {
		return "node"
	}
	return name
}

func (s *NodeConfig) validate(_ *Config, v validator) {
	if !nodeNameRE.MatchString(s.Name) {
		v.errf("name", "%s: want 1 to 63 of a-z, 0-9, '-', '_', '.', starting with a letter or digit", quote(s.Name))
	}
	if s.DataDir == "" {
		v.errf("data_dir", "must not be empty")
	}
}

// --- http ---

func (s *HTTPConfig) defaults() {
	s.Listen = defaultListen
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 30 * time.Second
}

func (s *HTTPConfig) resolve(_ *Config, dir string) {
	s.TLS.CertFile = resolvePath(dir, s.TLS.CertFile)
	s.TLS.KeyFile = resolvePath(dir, s.TLS.KeyFile)
	s.TLS.ClientCAFile = resolvePath(dir, s.TLS.ClientCAFile)
	s.TLS.CAFile = resolvePath(dir, s.TLS.CAFile)
	if s.TLS.ClientCAFile != "" && s.TLS.ClientAuth == "" {
		s.TLS.ClientAuth = ClientAuthRequire
	}
	if s.ExternalURL != "" {
		return
	}
	if checkHostPort(s.Listen) != "" {
		return // validate reports it
	}
	host, port, _ := net.SplitHostPort(s.Listen)
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	scheme := "http://"
	if s.TLS.Enabled() {
		scheme = "https://"
	}
	s.ExternalURL = scheme + net.JoinHostPort(host, port)
}

func (s *HTTPConfig) validate(_ *Config, v validator) {
	if msg := checkHostPort(s.Listen); msg != "" {
		v.errf("listen", "%s", msg)
	} else if !s.TLS.Enabled() && !s.Insecure && !loopbackListen(s.Listen) {
		v.errf("listen", "%s: plain HTTP on an address other than loopback: set http.tls (cert_file, key_file) to serve HTTPS, or http.insecure: true to accept plain HTTP on this network", quote(s.Listen))
	}
	s.TLS.validate(v.sub("tls"))
	positive(v, "read_timeout", s.ReadTimeout)
	positive(v, "write_timeout", s.WriteTimeout)
	if s.ExternalURL != "" {
		u, err := url.Parse(s.ExternalURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf("external_url", "%s: want an absolute http:// or https:// URL", quote(s.ExternalURL))
		}
	}
}

// --- nats ---

func (s *NATSConfig) defaults() {
	s.Embedded.Cluster.Name = "unyo"
	s.TaskSigning.TTL = 10 * time.Minute
	s.Stream.Replicas = 1
	s.Stream.MaxAge = 72 * time.Hour
	s.Stream.DuplicateWindow = 10 * time.Minute
	s.Spool.MaxBytes = 1 << 30
	s.Spool.AppendTimeout = 5 * time.Second
	s.Spool.ReadyMaxAge = 10 * time.Second
}

func (s *NATSConfig) resolve(c *Config, dir string) {
	if s.Embedded.StoreDir == "" {
		s.Embedded.StoreDir = filepath.Join(c.Node.DataDir, "jetstream")
	} else {
		s.Embedded.StoreDir = resolvePath(dir, s.Embedded.StoreDir)
	}
	if s.Spool.Dir == "" {
		s.Spool.Dir = filepath.Join(c.Node.DataDir, "spool")
	} else {
		s.Spool.Dir = resolvePath(dir, s.Spool.Dir)
	}
	cl := &s.Embedded.Cluster
	if len(cl.Routes) == 0 {
		cl.Routes = nil // `routes: []` and no key are the same
	}
	cl.TLS.CertFile = resolvePath(dir, cl.TLS.CertFile)
	cl.TLS.KeyFile = resolvePath(dir, cl.TLS.KeyFile)
	cl.TLS.CAFile = resolvePath(dir, cl.TLS.CAFile)
	ct := &s.Embedded.TLS
	ct.CertFile, ct.KeyFile, ct.CAFile = resolvePath(dir, ct.CertFile), resolvePath(dir, ct.KeyFile), resolvePath(dir, ct.CAFile)
	if len(s.Embedded.Agents) == 0 {
		s.Embedded.Agents = nil
	}
	ts := &s.TaskSigning
	if ts.KeyFile == "" {
		ts.KeyFile = filepath.Join(c.Node.DataDir, "task-signing.key")
	} else {
		ts.KeyFile = resolvePath(dir, ts.KeyFile)
	}
	for i, f := range ts.TrustedKeys {
		ts.TrustedKeys[i] = resolvePath(dir, f)
	}
	if len(ts.TrustedKeys) == 0 {
		ts.TrustedKeys = nil
	}
}

func (s *NATSConfig) validate(c *Config, v validator) {
	if s.URL != "" {
		for _, u := range strings.Split(string(s.URL), ",") {
			if msg := checkNATSURL(strings.TrimSpace(u)); msg != "" {
				v.errf("url", "%s", msg)
				break
			}
		}
	}
	ev := v.sub("embedded")
	if s.Embedded.Listen != "" {
		if msg := checkHostPort(s.Embedded.Listen); msg != "" {
			ev.errf("listen", "%s", msg)
		} else if sameAddr(s.Embedded.Listen, c.HTTP.Listen) {
			ev.errf("listen", "%s: already used by http.listen", quote(s.Embedded.Listen))
		}
	}
	if s.Embedded.StoreDir == "" {
		ev.errf("store_dir", "must not be empty")
	}
	s.Embedded.Cluster.validate(c, ev.sub("cluster"))
	s.Embedded.validateClients(ev)
	tv := v.sub("task_signing")
	if s.TaskSigning.KeyFile == "" {
		tv.errf("key_file", "must not be empty")
	}
	for i, f := range s.TaskSigning.TrustedKeys {
		if msg := checkReadableFile(f); msg != "" {
			tv.errf(fmt.Sprintf("trusted_keys[%d]", i), "%s", msg)
		}
	}
	atLeast(tv, "ttl", s.TaskSigning.TTL, 10*time.Second)
	s.AuthCallout.validate(c, v.sub("auth_callout"))
	pv := v.sub("spool")
	if s.Spool.Dir == "" {
		pv.errf("dir", "must not be empty")
	}
	if s.Spool.MaxBytes < 1<<20 {
		pv.errf("max_bytes", "%d: want at least 1048576 (1 MiB)", s.Spool.MaxBytes)
	}
	atLeast(pv, "append_timeout", s.Spool.AppendTimeout, 100*time.Millisecond)
	atLeast(pv, "ready_max_age", s.Spool.ReadyMaxAge, time.Second)
	sv := v.sub("stream")
	switch {
	case s.Stream.Replicas < 1 || s.Stream.Replicas > 5:
		sv.errf("replicas", "%d: want 1..5", s.Stream.Replicas)
	case s.URL != "":
	case s.EmbeddedCluster():
		if n := len(s.Embedded.Cluster.Routes) + 1; s.Stream.Replicas > n {
			sv.errf("replicas", "%d: want at most %d, the number of nats.embedded.cluster.routes + 1", s.Stream.Replicas, n)
		}
	case s.Stream.Replicas > 1:
		sv.errf("replicas", "%d: the embedded NATS server is a single server, want 1 (or set nats.embedded.cluster, or nats.url to a cluster)", s.Stream.Replicas)
	}
	atLeast(sv, "max_age", s.Stream.MaxAge, time.Minute)
	if atLeast(sv, "duplicate_window", s.Stream.DuplicateWindow, time.Second) &&
		s.Stream.MaxAge >= time.Minute && s.Stream.DuplicateWindow > s.Stream.MaxAge {
		sv.errf("duplicate_window", "%s: want at most nats.stream.max_age (%s)",
			fmtDuration(s.Stream.DuplicateWindow), fmtDuration(s.Stream.MaxAge))
	}
}

// natsAccountRE is a server account's name as the nodes accept it.
var natsAccountRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (a NATSAuthCalloutConfig) validate(c *Config, v validator) {
	if !a.Enabled() {
		return
	}
	switch {
	case c.NATS.URL == "":
		v.errf("issuer_seed", "the auth callout is for an external NATS: set nats.url (the embedded server asks the registry itself)")
	case !c.Agents.Enabled:
		v.errf("issuer_seed", "the auth callout lets in enrolled agents: set agents.enabled")
	}
	if a.IssuerSeed == "" {
		v.errf("issuer_seed", "required: the account NKey seed (SA...) whose public key is the server's auth_callout issuer, as file:PATH or ${env:NAME}")
	} else if !accountSeed(string(a.IssuerSeed)) {
		v.errf("issuer_seed", "not an account NKey seed (want SA...; `nsc generate nkey --account` or `unyo agent nkey --account FILE` makes one)")
	}
	if !natsAccountRE.MatchString(a.Account) {
		v.errf("account", "%s: want the server account of the nodes' user (1 to 64 of A-Z, a-z, 0-9, '-', '_')", quote(a.Account))
	}
	if a.TTL != 0 {
		atLeast(v, "ttl", a.TTL, time.Minute)
	}
}

// accountSeed reports whether s is an account NKey seed (bus.CalloutIssuer
// reads it the same way).
func accountSeed(s string) bool {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(s)))
	if err != nil {
		return false
	}
	pub, err := kp.PublicKey()
	return err == nil && nkeys.IsValidPublicAccountKey(pub)
}

var natsClusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// natsAgentNameRE is an agent's name or tag: one NATS subject token (the
// same rule as bus.AgentNameRE).
var natsAgentNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// minAgentPassword is the shortest agent password accepted.
const minAgentPassword = 16

// validateClients checks the client listener's TLS and agents.
//
// Agents without a client listener are accepted (the node warns at start:
// no agent can connect), so that an example can list them.
func (s *NATSEmbeddedConfig) validateClients(v validator) {
	if s.TLS.Enabled() {
		tv := v.sub("tls")
		if s.Listen == "" {
			v.errAt("listen", tv.path, "required when nats.embedded.tls is set")
		}
		for _, f := range []struct {
			key, path string
			required  bool
		}{{"cert_file", s.TLS.CertFile, true}, {"key_file", s.TLS.KeyFile, true}, {"ca_file", s.TLS.CAFile, false}} {
			switch {
			case f.path == "" && f.required:
				tv.errAt(f.key, tv.path, "required with nats.embedded.tls (cert_file and key_file; ca_file to verify clients)")
			case f.path != "":
				if msg := checkReadableFile(f.path); msg != "" {
					tv.errf(f.key, "%s", msg)
				}
			}
		}
	}
	names := map[string]int{}
	for i, a := range s.Agents {
		av := v.sub(fmt.Sprintf("agents[%d]", i))
		if !natsAgentNameRE.MatchString(a.Name) {
			av.errf("name", "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit", quote(a.Name))
		} else if j, dup := names[a.Name]; dup {
			av.errf("name", "%s: also the name of nats.embedded.agents[%d]", quote(a.Name), j)
		} else {
			names[a.Name] = i
		}
		for k, t := range a.Tags {
			if !natsAgentNameRE.MatchString(t) {
				av.errf(fmt.Sprintf("tags[%d]", k), "%s: want 1 to 63 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit", quote(t))
			}
		}
		switch {
		case a.Password == "" && a.NKey == "":
			av.errAt("password", av.path, "want a password or an nkey")
		case a.Password != "" && a.NKey != "":
			av.errf("nkey", "want a password or an nkey, not both")
		case a.Password != "" && len(a.Password) < minAgentPassword:
			av.errf("password", "shorter than %d characters", minAgentPassword)
		case a.NKey != "" && !nkeys.IsValidPublicUserKey(a.NKey):
			av.errf("nkey", "%s: want a public user NKey (U and 55 characters of A-Z, 2-7, with a valid checksum)", quote(a.NKey))
		}
	}
}

func (s *NATSClusterConfig) validate(c *Config, v validator) {
	if !natsClusterNameRE.MatchString(s.Name) {
		v.errf("name", "%s: want 1 to 64 of A-Z, a-z, 0-9, '-', '_'", quote(s.Name))
	}
	if s.Listen != "" {
		if msg := checkHostPort(s.Listen); msg != "" {
			v.errf("listen", "%s", msg)
		} else {
			for _, o := range []struct{ key, addr string }{
				{"http.listen", c.HTTP.Listen},
				{"nats.embedded.listen", c.NATS.Embedded.Listen},
				{"cluster.bind", c.Cluster.Bind},
			} {
				if o.addr != "" && sameAddr(s.Listen, o.addr) {
					v.errf("listen", "%s: already used by %s", quote(s.Listen), o.key)
					break
				}
			}
		}
		if len(s.Routes) == 0 {
			v.errAt("routes", v.field("listen"), "required when nats.embedded.cluster.listen is set: the nodes' route addresses, e.g. [nats-route://10.0.0.1:6222]")
		}
	} else {
		if len(s.Routes) > 0 {
			v.errAt("listen", v.field("routes"), "required when nats.embedded.cluster.routes is set (host:port for routes from the other nodes)")
		}
		if s.TLS.Enabled() {
			v.errAt("listen", v.path+".tls", "required when nats.embedded.cluster.tls is set")
		}
	}
	for i, r := range s.Routes {
		if msg := checkRoute(r); msg != "" {
			v.errf(fmt.Sprintf("routes[%d]", i), "%s", msg)
		}
	}
	if s.TLS.Enabled() {
		tv := v.sub("tls")
		for _, f := range []struct{ key, path string }{
			{"cert_file", s.TLS.CertFile}, {"key_file", s.TLS.KeyFile}, {"ca_file", s.TLS.CAFile},
		} {
			if f.path == "" {
				tv.errAt(f.key, tv.path, "required with the other nats.embedded.cluster.tls files (cert_file, key_file, ca_file)")
			} else if msg := checkReadableFile(f.path); msg != "" {
				tv.errf(f.key, "%s", msg)
			}
		}
	}
}

// EmbeddedListens reports whether the embedded server listens for
// clients: nats.embedded.listen set, or an embedded cluster (which always
// has a client listener). It then requires authentication.
func (s NATSConfig) EmbeddedListens() bool {
	return s.URL == "" && (s.Embedded.Listen != "" || s.Embedded.Cluster.Listen != "")
}

// EmbeddedCluster reports whether the node's embedded NATS server joins a
// NATS cluster (nats.url empty, nats.embedded.cluster.listen set).
func (s NATSConfig) EmbeddedCluster() bool { return s.URL == "" && s.Embedded.Cluster.Listen != "" }

// checkRoute returns what is wrong with a route address,
// nats-route://host:port or host:port, or "".
func checkRoute(raw string) string {
	s := raw
	if !strings.Contains(s, "://") {
		s = "nats-route://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "nats-route" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return fmt.Sprintf("%s: want nats-route://host:port or host:port", quote(raw))
	}
	if n, err := strconv.Atoi(u.Port()); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("%s: want a port 1..65535", quote(raw))
	}
	return ""
}

// checkReadableFile returns what is wrong with a file the node must read
// at start, or "".
func checkReadableFile(path string) string {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Sprintf("%s: no such file", quote(path))
	case err != nil:
		return fmt.Sprintf("%s: %v", quote(path), errors.Unwrap(err))
	case fi.IsDir():
		return fmt.Sprintf("%s: a directory, want a file", quote(path))
	}
	return ""
}

// IsEmbedded reports whether the node runs the in-process NATS server.
func (s NATSConfig) IsEmbedded() bool { return s.URL == "" }

// URLs returns the server URLs of nats.url, or nil for the embedded server.
func (s NATSConfig) URLs() []string {
	if s.URL == "" {
		return nil
	}
	var out []string
	for _, u := range strings.Split(string(s.URL), ",") {
		out = append(out, strings.TrimSpace(u))
	}
	return out
}

func checkNATSURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "nats" && u.Scheme != "tls") {
		shown := raw
		if err == nil {
			shown = u.Redacted()
		} else if strings.Contains(raw, "@") {
			shown = "<url with credentials>"
		}
		return fmt.Sprintf("%s: want nats://host:port[,nats://host:port...]", quote(shown))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("%s: port %s out of range 1..65535", quote(u.Redacted()), p)
		}
	}
	return ""
}

// --- ledger ---

func (s *LedgerConfig) defaults() {
	s.Driver = DriverSQLite
	s.Postgres.MaxConns = 8
}

func (s *LedgerConfig) resolve(c *Config, dir string) {
	if s.SQLite.Path == "" {
		s.SQLite.Path = filepath.Join(c.Node.DataDir, "ledger.db")
	} else {
		s.SQLite.Path = resolvePath(dir, s.SQLite.Path)
	}
}

func (s *LedgerConfig) validate(_ *Config, v validator) {
	switch s.Driver {
	case DriverSQLite, DriverPostgres:
	default:
		v.errf("driver", "%s: want sqlite or postgres", quote(s.Driver))
	}
	pv := v.sub("postgres")
	if s.Postgres.URL == "" {
		if s.Driver == DriverPostgres {
			pv.errAt("url", v.field("driver"), "required when ledger.driver is postgres")
		}
	} else if u, err := url.Parse(string(s.Postgres.URL)); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// Never quote the value: it may hold a password.
		pv.errf("url", "not a postgres:// or postgresql:// URL")
	}
	if s.Postgres.MaxConns < 1 || s.Postgres.MaxConns > 256 {
		pv.errf("max_conns", "%d: want 1..256", s.Postgres.MaxConns)
	}
	if s.Driver == DriverSQLite && s.SQLite.Path == "" {
		v.sub("sqlite").errf("path", "must not be empty")
	}
}

// --- pipeline ---

func (s *PipelineConfig) defaults() {
	s.BatchSize = 256
	s.AckWait = 30 * time.Second
	s.RetryBackoff = time.Second
	s.MaxBackoff = 30 * time.Second
	s.ReadyMaxBacklog = 10000
}

func (s *PipelineConfig) resolve(*Config, string) {}

func (s *PipelineConfig) validate(_ *Config, v validator) {
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		v.errf("batch_size", "%d: want 1..10000", s.BatchSize)
	}
	if s.ReadyMaxBacklog < 1 {
		v.errf("ready_max_backlog", "%d: want at least 1", s.ReadyMaxBacklog)
	}
	positive(v, "ack_wait", s.AckWait)
	if positive(v, "retry_backoff", s.RetryBackoff) && positive(v, "max_backoff", s.MaxBackoff) &&
		s.MaxBackoff < s.RetryBackoff {
		v.errf("max_backoff", "%s: want at least pipeline.retry_backoff (%s)",
			fmtDuration(s.MaxBackoff), fmtDuration(s.RetryBackoff))
	}
}

// --- log ---

func (s *LogConfig) defaults() {
	s.Level = "info"
	s.Format = "text"
}

func (s *LogConfig) resolve(*Config, string) {}

// SlogLevel returns log.level as a slog.Level.
func (s LogConfig) SlogLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s.Level)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func (s *LogConfig) validate(_ *Config, v validator) {
	switch s.Level {
	case "debug", "info", "warn", "error":
	default:
		v.errf("level", "%s: want debug, info, warn or error", quote(s.Level))
	}
	switch s.Format {
	case "text", "json":
	default:
		v.errf("format", "%s: want text or json", quote(s.Format))
	}
}

// --- helpers ---

// resolvePath makes a relative path relative to dir; "" stays "".
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// checkHostPort returns what is wrong with a host:port listen address, or "".
// The host may be empty (all interfaces); the port may be 0 (any free port).
func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		reason := "want host:port"
		if errors.As(err, &ae) && ae.Err != "" {
			reason = ae.Err + ", want host:port"
		}
		return fmt.Sprintf("%s: %s", quote(s), reason)
	}
	if port == "" || strings.Trim(port, "0123456789") != "" {
		return fmt.Sprintf("%s: port %s is not a number", quote(s), quote(port))
	}
	if n, err := strconv.Atoi(port); err != nil || n > 65535 {
		return fmt.Sprintf("%s: port %s out of range 0..65535", quote(s), port)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Sprintf("%s: host %s is not an IP address or host name", quote(s), quote(host))
	}
	return ""
}

func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// sameAddr reports whether two valid listen addresses collide: same port
// (not 0) on the same host, or on a wildcard host.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool {
		ip := net.ParseIP(h)
		return h == "" || ip != nil && ip.IsUnspecified()
	}
	return ha == hb || wild(ha) || wild(hb)
}

func positive(v validator, key string, d time.Duration) bool {
	if d <= 0 {
		v.errf(key, "%s: want more than 0", fmtDuration(d))
		return false
	}
	return true
}

func atLeast(v validator, key string, d, min time.Duration) bool {
	if d < min {
		v.errf(key, "%s: want at least %s", fmtDuration(d), fmtDuration(min))
		return false
	}
	return true
}

// fmtDuration prints a duration the way people write it: 72h, 1m, 1m30s.
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// quote quotes a user-given string for a message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// loopbackListen reports whether a valid host:port listens on loopback
// only: 127.0.0.0/8, ::1 or "localhost". An empty host, a wildcard and
// any other name listen (or may listen) on the network.
func loopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t *HTTPTLSConfig) validate(v validator) {
	if t.Enabled() {
		if t.CertFile == "" {
			v.errAt("cert_file", v.field("key_file"), "required with http.tls.key_file")
		}
		if t.KeyFile == "" {
			v.errAt("key_file", v.field("cert_file"), "required with http.tls.cert_file")
		}
	} else if t.ClientCAFile != "" {
		v.errAt("cert_file", v.field("client_ca_file"), "required when http.tls.client_ca_file is set (client certificates need an HTTPS listener)")
	}
	readable := map[string]bool{}
	for _, f := range []struct{ key, path string }{
		{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"client_ca_file", t.ClientCAFile}, {"ca_file", t.CAFile},
	} {
		if f.path != "" {
			if msg := checkReadableFile(f.path); msg != "" {
				v.errf(f.key, "%s", msg)
			} else {
				readable[f.key] = true
			}
		}
	}
	if readable["cert_file"] && readable["key_file"] {
		// The error names neither content nor key material.
		if _, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile); err != nil {
			v.errf("cert_file", "%s with key_file %s: %v", quote(t.CertFile), quote(t.KeyFile), err)
		}
	}
	for _, f := range []struct{ key, path string }{{"client_ca_file", t.ClientCAFile}, {"ca_file", t.CAFile}} {
		if readable[f.key] {
			if b, err := os.ReadFile(f.path); err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
				v.errf(f.key, "%s: no PEM certificate in it", quote(f.path))
			}
		}
	}
	switch t.ClientAuth {
	case "", ClientAuthRequire, ClientAuthVerifyIfGiven:
		if t.ClientAuth != "" && t.ClientCAFile == "" {
			v.errAt("client_ca_file", v.field("client_auth"), "required when http.tls.client_auth is set")
		}
	default:
		v.errf("client_auth", "%s: want %s or %s", quote(t.ClientAuth), ClientAuthRequire, ClientAuthVerifyIfGiven)
	}
}
