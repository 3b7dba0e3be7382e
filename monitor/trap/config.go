package trap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config of the trap receiver. Zero values take the defaults shown.
//
//	listen: ":162"
//	communities: [public]        # v1/v2c communities accepted; empty: any
//	allow_sources: [10.0.0.0/8]  # senders accepted (any version); empty: any
//	users:                       # SNMPv3 USM users
//	  - {name: unyo, auth_protocol: SHA, auth_passphrase: "...", priv_protocol: AES, priv_passphrase: "...", min_level: authPriv}
//	targets: {10.0.0.1: core-sw-01}
//	queue_size: 65536
//	workers: 2
//	read_buffer: 8388608
//	publish_timeout: 10s
//	unmatched: info              # or ignore
//	disable_builtin_rules: false
//	rules:
//	  - name: ups-on-battery
//	    oid: 1.3.6.1.4.1.318.0.5
//	    severity: critical
//	    dedup_key: '{{.Target}}/ups/battery'
//	    message: '{{.Target}}: UPS on battery'
type Config struct {
	// Listen is the UDP host:port.
	Listen string `yaml:"listen"`
	// Communities accepted on v1 and v2c traps; empty accepts any.
	Communities []Secret `yaml:"communities"`
	// AllowSources are the addresses and CIDR prefixes traps are accepted
	// from, whatever their version; empty accepts any. A packet from
	// elsewhere is dropped by the socket reader before it is queued or
	// decoded, and counted as rejected{reason="source"}.
	AllowSources []string `yaml:"allow_sources"`
	// Users are the SNMPv3 USM users; with none, v3 traps are rejected.
	Users []User `yaml:"users"`
	// Targets maps agent (source) IP addresses to target names.
	Targets map[string]string `yaml:"targets"`
	// QueueSize bounds the packets waiting between the socket and the
	// workers.
	QueueSize int `yaml:"queue_size"`
	// Workers decode, match and publish.
	Workers int `yaml:"workers"`
	// ReadBuffer is the socket receive buffer asked for, in bytes.
	ReadBuffer int `yaml:"read_buffer"`
	// PublishTimeout bounds one Sink.Publish call.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// Unmatched is what a trap no rule matches becomes: "info" (an info
	// event, the default) or "ignore".
	Unmatched string `yaml:"unmatched"`
	// DisableBuiltinRules turns off the mappings of the standard traps
	// (coldStart, warmStart, linkDown, linkUp, authenticationFailure,
	// egpNeighborLoss). User rules are always tried first.
	DisableBuiltinRules bool `yaml:"disable_builtin_rules"`
	// Rules are tried in order; the first match decides.
	Rules []Rule `yaml:"rules"`
}

// Secret is a string that prints as <secret>.
type Secret string

// String hides the value.
func (Secret) String() string { return "<secret>" }

// MarshalYAML hides the value.
func (Secret) MarshalYAML() (any, error) { return "<secret>", nil }

// User is an SNMPv3 USM user.
type User struct {
	Name string `yaml:"name"`
	// AuthProtocol: MD5, SHA, SHA224, SHA256, SHA384, SHA512. Required:
	// unauthenticated v3 traps are not accepted.
	AuthProtocol   string `yaml:"auth_protocol"`
	AuthPassphrase Secret `yaml:"auth_passphrase"`
	// PrivProtocol: "" (authNoPriv), DES, AES, AES192, AES256, AES192C,
	// AES256C.
	PrivProtocol   string `yaml:"priv_protocol"`
	PrivPassphrase Secret `yaml:"priv_passphrase"`
	// MinLevel is the lowest security level accepted from this user:
	// authPriv or authNoPriv. Default: authPriv when PrivProtocol is set,
	// else authNoPriv. noAuthNoPriv is never accepted.
	MinLevel string `yaml:"min_level"`
}

// minLevel returns the level MinLevel names, or its default.
func (u *User) minLevel() (int, error) {
	switch {
	case u.MinLevel == "" && u.PrivProtocol != "":
		return levelAuthPriv, nil
	case u.MinLevel == "", strings.EqualFold(u.MinLevel, "authNoPriv"):
		return levelAuthNoPriv, nil
	case strings.EqualFold(u.MinLevel, "authPriv"):
		if u.PrivProtocol == "" {
			return 0, fmt.Errorf("%q needs priv_protocol", u.MinLevel)
		}
		return levelAuthPriv, nil
	case strings.EqualFold(u.MinLevel, "noAuthNoPriv"):
		return 0, fmt.Errorf("%q: unauthenticated v3 traps are never accepted; want authNoPriv or authPriv", u.MinLevel)
	}
	return 0, fmt.Errorf("%q: want authNoPriv or authPriv", u.MinLevel)
}

// Rule maps traps to events.
type Rule struct {
	// Name identifies the rule (metrics, logs); the event's check name
	// unless Check is set. Required, unique.
	Name string `yaml:"name"`
	// OID is the trap OID (snmpTrapOID.0; for v1 traps the RFC 3584
	// translation), numeric or a known name like IF-MIB::linkDown; a
	// trailing ".*" matches the subtree. Empty matches every trap.
	OID string `yaml:"oid"`
	// Varbinds must all match.
	Varbinds []VarbindMatch `yaml:"varbinds"`
	// Action: incident (default) or ignore.
	Action string `yaml:"action"`
	// Severity: critical, major, minor, warning, info. Required for
	// incident.
	Severity string `yaml:"severity"`
	// Status: problem (default) or ok.
	Status string `yaml:"status"`
	// Check is the event's check name; default the rule name.
	Check string `yaml:"check"`
	// DedupKey template; default "{{.Target}}/<name>".
	DedupKey string `yaml:"dedup_key"`
	// Message template; default a one-line description of the trap.
	Message string            `yaml:"message"`
	Runbook string            `yaml:"runbook"`
	Labels  map[string]string `yaml:"labels"`
}

// VarbindMatch matches a varbind whose OID is OID or under it (so a column
// like IF-MIB::ifOperStatus matches ifOperStatus.3), and whose value equals
// Equals or matches Regex (one of them; neither: present with any value).
type VarbindMatch struct {
	OID    string `yaml:"oid"`
	Equals string `yaml:"equals"`
	Regex  string `yaml:"regex"`
}

// Defaults.
const (
	DefaultListen         = ":162"
	DefaultQueueSize      = 65536
	DefaultWorkers        = 2
	DefaultReadBuffer     = 8 << 20
	DefaultPublishTimeout = 10 * time.Second
)

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	c := Config{}
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	c.Defaults()
}

// Defaults fills the fields left at zero but listen (which turns the
// receiver on).
func (c *Config) Defaults() {
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = DefaultReadBuffer
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	if c.Unmatched == "" {
		c.Unmatched = "info"
	}
}

// LoadConfig decodes YAML strictly over DefaultConfig and validates it.
func LoadConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration; errors name the field path, with
// list indexes (rules[2].varbinds[0].regex: ...).
func (c *Config) Validate() error {
	cc := *c
	cc.setDefaults()
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(cc.Listen); err != nil {
		add("listen", "%q: %v", cc.Listen, err)
	}
	for i, cm := range cc.Communities {
		if cm == "" {
			add(fmt.Sprintf("communities[%d]", i), "empty")
		}
	}
	for i, a := range cc.AllowSources {
		if _, err := parseSource(a); err != nil {
			add(fmt.Sprintf("allow_sources[%d]", i), "%v", err)
		}
	}
	users := map[string]int{}
	for i, u := range cc.Users {
		p := fmt.Sprintf("users[%d]", i)
		if u.Name == "" {
			add(p+".name", "required")
		} else if j, dup := users[u.Name]; dup {
			add(p+".name", "%q already used by users[%d]", u.Name, j)
		} else {
			users[u.Name] = i
		}
		if _, err := authProtocol(u.AuthProtocol); err != nil {
			add(p+".auth_protocol", "%v", err)
		}
		if len(u.AuthPassphrase) < 8 {
			add(p+".auth_passphrase", "at least 8 characters (RFC 3414)")
		}
		if _, err := privProtocol(u.PrivProtocol); err != nil {
			add(p+".priv_protocol", "%v", err)
		}
		if u.PrivProtocol != "" && len(u.PrivPassphrase) < 8 {
			add(p+".priv_passphrase", "at least 8 characters (RFC 3414)")
		}
		if u.PrivProtocol == "" && u.PrivPassphrase != "" {
			add(p+".priv_passphrase", "set without priv_protocol")
		}
		if _, err := u.minLevel(); err != nil {
			add(p+".min_level", "%v", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cc.Targets)) {
		if _, err := netip.ParseAddr(k); err != nil {
			add("targets."+k, "not an IP address")
		}
		if cc.Targets[k] == "" {
			add("targets."+k, "empty name")
		}
	}
	if cc.QueueSize < 1 {
		add("queue_size", "%d: must be at least 1", cc.QueueSize)
	}
	if cc.Workers < 1 || cc.Workers > 256 {
		add("workers", "%d: want 1 to 256", cc.Workers)
	}
	if cc.ReadBuffer < 0 {
		add("read_buffer", "%d: must not be negative", cc.ReadBuffer)
	}
	if cc.PublishTimeout < 0 {
		add("publish_timeout", "%v: must not be negative", cc.PublishTimeout)
	}
	switch cc.Unmatched {
	case "info", "ignore":
	default:
		add("unmatched", "%q: want info or ignore", cc.Unmatched)
	}
	names := map[string]int{}
	for i := range cc.Rules {
		r := &cc.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		if r.Name == "" {
			add(p+".name", "required")
		} else if j, dup := names[r.Name]; dup {
			add(p+".name", "%q already used by rules[%d]", r.Name, j)
		} else {
			names[r.Name] = i
		}
		if _, err := compileRule(r); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, fmt.Errorf("%s.%w", p, e))
			}
		}
	}
	return errors.Join(errs...)
}

// parseSource reads an allow_sources entry: an address (one host) or a
// CIDR prefix without host bits.
func parseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q: not an address or CIDR prefix", s)
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, fmt.Errorf("%q: write IPv4 prefixes as a.b.c.d/n", s)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("%q has host bits set; did you mean %s?", s, m)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q: not an address or CIDR prefix", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// sourceSet is a parsed allow_sources; empty allows any address.
type sourceSet []netip.Prefix

func newSourceSet(list []string) (sourceSet, error) {
	var s sourceSet
	for i, a := range list {
		p, err := parseSource(a)
		if err != nil {
			return nil, fmt.Errorf("allow_sources[%d]: %w", i, err)
		}
		s = append(s, p)
	}
	return s, nil
}

// allows reports whether a (unmapped) may send traps.
func (s sourceSet) allows(a netip.Addr) bool {
	if len(s) == 0 {
		return true
	}
	a = a.Unmap()
	for _, p := range s {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
