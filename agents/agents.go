package agents

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Kind is how an agent is installed.
type Kind string

// Agent kinds.
const (
	// KindResident runs as a service (`unyo agent run`, systemd).
	KindResident Kind = "resident"
	// KindOnDemand runs when started (`unyo agent once`): it reports,
	// takes what is waiting for it, and exits.
	KindOnDemand Kind = "on-demand"
	// KindStandalone has no network path to a node: its inventory comes
	// in a file (`unyo agent collect`, `unyo agents import`).
	KindStandalone Kind = "standalone"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	return k == KindResident || k == KindOnDemand || k == KindStandalone
}

// Errors of the registry. Stores wrap them.
var (
	ErrNotFound = errors.New("agents: not found")
	ErrExists   = errors.New("agents: already exists")
	// ErrToken: an enrolment token that is unknown, expired, revoked or
	// used up (the caller is told no more than that).
	ErrToken = errors.New("agents: enrolment token not valid")
	// ErrHostTaken: another agent is enrolled with the same host id.
	ErrHostTaken = errors.New("agents: host id enrolled under another name")
)

// NameRE is what an agent's name and a group must match: one NATS
// subject token (as bus.AgentNameRE), so an agent's subjects are its own.
var NameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// Agent is one enrolled agent: the registry record.
type Agent struct {
	// Name is the agent's name: its NATS user, its subjects and
	// run_on.agent. Unique.
	Name string `json:"name"`
	// HostID identifies the machine (/etc/machine-id or the host's UUID);
	// imports and re-enrolments are deduplicated by it.
	HostID string `json:"host_id"`
	// Group is the enrolment group (a token's group); "" is "default".
	Group string `json:"group"`
	// Version is the unyo version the agent last reported.
	Version string `json:"version"`
	Kind    Kind   `json:"kind"`
	// Home is the URL of the management server (cluster) the agent
	// belongs to.
	Home string `json:"home"`
	// NKey is the agent's public NATS user key ("U..."): its NATS
	// credential (the seed stays in the agent's state directory).
	NKey string `json:"nkey,omitempty"`
	// SignKey is the agent's ed25519 public key (hex): what signs its
	// standalone inventory files.
	SignKey string   `json:"sign_key,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	// Hostname and OS as last reported (for lists).
	Hostname string    `json:"hostname,omitempty"`
	OS       string    `json:"os,omitempty"`
	Enrolled time.Time `json:"enrolled"`
	// EnrolledBy is the enrolment token id, or the actor of an import.
	EnrolledBy string    `json:"enrolled_by,omitempty"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	// Slots is how many jobs the agent runs at once; SlotsUsed how many it
	// ran at its last heartbeat.
	Slots     int `json:"slots"`
	SlotsUsed int `json:"slots_used"`
	// Disabled agents may not connect (their NATS credential is refused).
	Disabled bool `json:"disabled,omitempty"`
}

// Seen is one heartbeat, as the registry keeps it.
type Seen struct {
	Name      string
	At        time.Time
	Version   string
	SlotsUsed int
}

// EnrollToken lets agents enrol into a group until it expires or is
// revoked. Only the SHA-256 of its secret is stored; the secret is shown
// once, when it is made.
type EnrollToken struct {
	ID      string    `json:"id"` // "enr_" + 16 hex, public
	Group   string    `json:"group"`
	Hash    string    `json:"-"`
	By      string    `json:"created_by"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	Revoked time.Time `json:"revoked,omitzero"`
	// MaxUses bounds enrolments with the token (0: unbounded); Uses counts them.
	MaxUses  int       `json:"max_uses,omitempty"`
	Uses     int       `json:"uses"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// Live reports whether t may enrol an agent at now.
func (t EnrollToken) Live(now time.Time) bool {
	return t.Revoked.IsZero() && now.Before(t.Expires) && (t.MaxUses == 0 || t.Uses < t.MaxUses)
}

// TokenPrefix starts every enrolment token's secret.
const TokenPrefix = "unyoe_"

// NewEnrollToken makes a token for group valid for ttl and returns it
// with its secret (shown once).
func NewEnrollToken(group, by string, ttl time.Duration, maxUses int, now time.Time) (EnrollToken, string, error) {
	if group == "" {
		group = DefaultGroup
	}
	if !NameRE.MatchString(group) {
		return EnrollToken{}, "", fmt.Errorf("group %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", group)
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return EnrollToken{}, "", fmt.Errorf("ttl %s: want more than 0 and at most %s", ttl, MaxTokenTTL)
	}
	if maxUses < 0 {
		return EnrollToken{}, "", fmt.Errorf("max uses %d: want 0 (unbounded) or more", maxUses)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return EnrollToken{}, "", err
	}
	secret := TokenPrefix + hex.EncodeToString(raw[:])
	id := "enr_" + randHex(8)
	return EnrollToken{ID: id, Group: group, Hash: HashSecret(secret), By: by, Created: now.UTC(),
		Expires: now.Add(ttl).UTC(), MaxUses: maxUses}, secret, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// HashSecret is the stored form of a secret: hex SHA-256.
func HashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Limits and defaults.
const (
	DefaultGroup = "default"
	MaxTokenTTL  = 90 * 24 * time.Hour
	// DefaultHeartbeat is the agents' heartbeat interval.
	DefaultHeartbeat = 10 * time.Second
	// MaxInventoryBytes bounds one inventory (its JSON).
	MaxInventoryBytes = 4 << 20
	// KeepInventories is how many inventories per agent the store keeps.
	KeepInventories = 10
)

// StoredInventory is one inventory as the store keeps it: the JSON of an
// inventory.Inventory and its SHA-256.
type StoredInventory struct {
	Agent string    `json:"agent"`
	At    time.Time `json:"at"`
	Hash  string    `json:"hash"`
	Data  []byte    `json:"-"`
}

// GroupSecret is a group's uninstall secret, hashed.
type GroupSecret struct {
	Group   string    `json:"group"`
	Hash    string    `json:"-"`
	By      string    `json:"by"`
	Created time.Time `json:"created"`
}
