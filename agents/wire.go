package agents

import (
	"time"

	"github.com/unyo-ops/unyo/agent/inventory"
)

// What agents and nodes exchange (JSON).

// EnrollRequest is what `unyo agent enroll` sends with its token.
type EnrollRequest struct {
	Name     string   `json:"name"`
	HostID   string   `json:"host_id"`
	Hostname string   `json:"hostname,omitempty"`
	Group    string   `json:"group,omitempty"` // must match the token's group when given
	Kind     Kind     `json:"kind"`
	Version  string   `json:"version"`
	NKey     string   `json:"nkey"`     // public user NKey; the seed stays on the agent
	SignKey  string   `json:"sign_key"` // hex ed25519 public key
	Slots    int      `json:"slots"`
	Tags     []string `json:"tags,omitempty"`
}

// EnrollResponse is the node's answer.
type EnrollResponse struct {
	Name  string `json:"name"`
	Group string `json:"group"`
	// NATS is the URL(s) the agent connects to with its NKey.
	NATS string `json:"nats"`
	// Home is the management server's URL.
	Home string `json:"home"`
	// TrustPEM are the public keys of the nodes that sign tasks and
	// operation requests.
	TrustPEM  string        `json:"trust_pem"`
	Heartbeat time.Duration `json:"heartbeat"`
	// Inventory is how often the agent sends its inventory.
	Inventory time.Duration `json:"inventory"`
	// Tags are the agent's tags as enrolled.
	Tags []string `json:"tags,omitempty"`
}

// Beat is a heartbeat (AgentBeatSubject.NAME).
type Beat struct {
	Version   string `json:"version"`
	Kind      Kind   `json:"kind"`
	Slots     int    `json:"slots"`
	SlotsUsed int    `json:"slots_used"`
	// Interval is the agent's heartbeat interval.
	Interval time.Duration `json:"interval"`
}

// LogBatch is lines an agent read from one monitored file.
type LogBatch struct {
	File  string    `json:"file"`
	App   string    `json:"app,omitempty"`
	Lines []LogLine `json:"lines"`
}

// LogLine is one line and when the agent read it.
type LogLine struct {
	At   time.Time `json:"at"`
	Text string    `json:"text"`
}

// Ack answers an agent's request.
type Ack struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Changes counts inventory changes recorded.
	Changes int `json:"changes,omitempty"`
	// Tags are the agent's tags, with an inventory's answer (nil: not
	// told; an agent that missed a TagsNotice learns them here).
	Tags *[]string `json:"tags,omitempty"`
}

// CollectFile is a standalone server's inventory file (`unyo agent
// collect`): the inventory's JSON, signed by the agent's ed25519 key.
type CollectFile struct {
	Name      string `json:"name"`
	Group     string `json:"group,omitempty"`
	Version   string `json:"version"`
	SignKey   string `json:"sign_key"`  // hex public key
	Inventory []byte `json:"inventory"` // JSON of inventory.Inventory
	Sig       []byte `json:"sig"`       // ed25519 over "unyo-collect-v1\x00" + Inventory
}

// CollectContext prefixes the signed bytes of a CollectFile.
const CollectContext = "unyo-collect-v1\x00"

// InventoryView is an agent's inventory as the API shows it.
type InventoryView struct {
	Agent string              `json:"agent"`
	At    time.Time           `json:"at"`
	Hash  string              `json:"hash"`
	Size  int                 `json:"size"`
	Inv   inventory.Inventory `json:"inventory"`
}

// DiffView is what changed between an agent's last two inventories.
type DiffView struct {
	Agent   string             `json:"agent"`
	From    time.Time          `json:"from,omitzero"`
	To      time.Time          `json:"to,omitzero"`
	Changes []inventory.Change `json:"changes"`
}

// AgentView is an agent in lists: the record and its liveness.
type AgentView struct {
	Agent
	// Live: a heartbeat within the down-after period (resident agents).
	Live bool `json:"live"`
	// Down: the agent is reported down (a fault raised).
	Down bool `json:"down"`
}
