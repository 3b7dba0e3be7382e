package rollout

import (
	"encoding/json"
	"fmt"
	"time"
)

// Subjects between agents and nodes (core NATS request/reply; the
// replies go to the agent's own inbox, bus.AgentInboxPrefix). They are
// in bus.AgentPermissions: an agent may send only on its own.
const (
	// ReportSubject + ".NAME": the agent's Report; the answer is a
	// Directive signed by a node's task-signing key (kind "directive").
	ReportSubject = "unyo.agent.report"
	// ReleaseSubject + ".NAME": a ChunkRequest; the answer is the bytes,
	// or a header "Unyo-Error" saying why not.
	ReleaseSubject = "unyo.agent.release"
	// queueGroup spreads the requests over the nodes.
	queueGroup = "unyo-fleet"
	// DirectiveKind is the signed-message kind of directives.
	DirectiveKind = "directive"
	// ChunkSize is the largest chunk a node answers (below NATS's 1 MiB
	// default payload limit).
	ChunkSize = 512 << 10
	// maxReportBytes bounds a report a node decodes.
	maxReportBytes = 8 << 10
)

// Report is what an agent tells the cluster on every heartbeat.
type Report struct {
	Agent    string `json:"agent"`
	Version  string `json:"version"`
	Platform string `json:"platform"`
	// State is the agent's update state (ReportIdle, StateDownloading,
	// ..., ReportCommitted, StateRolledBack, StateFailed, ReportMoved,
	// ReportMoveFailed).
	State    string `json:"state,omitempty"`
	Progress int    `json:"progress,omitempty"`
	// Message is a warning (the update goes on) or, with rolled-back or
	// failed, the error.
	Message string `json:"message,omitempty"`
	// Reason: why a move failed.
	Reason string `json:"reason,omitempty"`
}

// op turns a report into the op a node proposes.
func (r Report) op() Op {
	return Op{Kind: OpReport, Agent: r.Agent, Version: r.Version, Platform: r.Platform, State: r.State,
		Progress: r.Progress, Message: truncate(r.Message), Reason: truncate(r.Reason)}
}

// Directive is the cluster's answer to a report, signed.
type Directive struct {
	Agent   string    `json:"agent"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	By      string    `json:"by"`
	// Mode and Message are the newest release's for the agent's platform
	// ("" without one); Release is its version.
	Mode    string `json:"mode,omitempty"`
	Message string `json:"message,omitempty"`
	Release string `json:"release,omitempty"`
	// Update, when set, tells the agent to update now (it holds a slot).
	Update *UpdateOrder `json:"update,omitempty"`
	// Commit tells an agent on a trial binary that the cluster saw it:
	// it keeps the new binary.
	Commit bool `json:"commit,omitempty"`
	// Move tells the agent to re-home.
	Move *MoveOrder `json:"move,omitempty"`
	// Decommissioned: this cluster was retired.
	Decommissioned bool `json:"decommissioned,omitempty"`
}

// UpdateOrder is one release to install.
type UpdateOrder struct {
	Rollout   string        `json:"rollout"`
	Version   string        `json:"version"`
	SHA256    string        `json:"sha256"`
	Size      int64         `json:"size"`
	Signature string        `json:"signature"`
	Watch     time.Duration `json:"watch"`
	// Full: download the whole binary (no differential update).
	Full bool `json:"full,omitempty"`
}

// MoveOrder tells an agent where its new home is.
type MoveOrder struct {
	To        string `json:"to"`
	TrustKeys string `json:"trust_keys"`
}

// ChunkRequest asks for Length bytes of the release binary SHA256 from
// Offset, or, with Manifest, for the binary's content-defined chunks
// (package cdc's encoded manifest) for a differential update.
type ChunkRequest struct {
	SHA256   string `json:"sha256"`
	Offset   int64  `json:"offset"`
	Length   int    `json:"length"`
	Manifest bool   `json:"manifest,omitempty"`
}

// DecodeReport reads a report, checking its fields.
func DecodeReport(b []byte) (Report, error) {
	var r Report
	if len(b) > maxReportBytes {
		return r, fmt.Errorf("%w: report of %d bytes", ErrBadOp, len(b))
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%w: report: %v", ErrBadOp, err)
	}
	return r, r.op().Validate()
}
