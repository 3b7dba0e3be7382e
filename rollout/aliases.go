package rollout

import "github.com/unyo-ops/unyo/rollout/fleetstate"

// The replicated state's vocabulary (package fleetstate), named here for
// the node, the API and the agent.
type (
	State        = fleetstate.State
	Op           = fleetstate.Op
	Release      = fleetstate.Release
	Rollout      = fleetstate.Rollout
	AgentUpdate  = fleetstate.AgentUpdate
	AgentInfo    = fleetstate.AgentInfo
	Move         = fleetstate.Move
	LogEntry     = fleetstate.LogEntry
	Decommission = fleetstate.Decommission
)

// Modes, states and op kinds (see fleetstate).
const (
	StatusRunning    = fleetstate.StatusRunning
	StatusPaused     = fleetstate.StatusPaused
	StatusHalted     = fleetstate.StatusHalted
	StatusDone       = fleetstate.StatusDone
	ModeMandatory    = fleetstate.ModeMandatory
	ModeOptional     = fleetstate.ModeOptional
	ModeRefuse       = fleetstate.ModeRefuse
	StateQueued      = fleetstate.StateQueued
	StateDownloading = fleetstate.StateDownloading
	StateVerifying   = fleetstate.StateVerifying
	StateSwapped     = fleetstate.StateSwapped
	StateWatching    = fleetstate.StateWatching
	StateDone        = fleetstate.StateDone
	StateRolledBack  = fleetstate.StateRolledBack
	StateFailed      = fleetstate.StateFailed
	ReportIdle       = fleetstate.ReportIdle
	ReportCommitted  = fleetstate.ReportCommitted
	ReportMoved      = fleetstate.ReportMoved
	ReportMoveFailed = fleetstate.ReportMoveFailed
	MovePending      = fleetstate.MovePending
	MoveMoved        = fleetstate.MoveMoved
	OpReleaseAdd     = fleetstate.OpReleaseAdd
	OpReleaseSet     = fleetstate.OpReleaseSet
	OpRolloutStart   = fleetstate.OpRolloutStart
	OpRolloutPause   = fleetstate.OpRolloutPause
	OpRolloutResume  = fleetstate.OpRolloutResume
	OpGrant          = fleetstate.OpGrant
	OpExpire         = fleetstate.OpExpire
	OpReport         = fleetstate.OpReport
	OpMoveStart      = fleetstate.OpMoveStart
	OpDecommission   = fleetstate.OpDecommission
)

// Errors of the state machine.
var (
	ErrBadOp    = fleetstate.ErrBadOp
	ErrNotFound = fleetstate.ErrNotFound
	ErrState    = fleetstate.ErrState
	ErrLimit    = fleetstate.ErrLimit
)

var (
	sha256RE      = fleetstate.SHA256RE
	truncate      = fleetstate.Truncate
	ReleaseKey    = fleetstate.ReleaseKey
	ValidVersion  = fleetstate.ValidVersion
	ValidPlatform = fleetstate.ValidPlatform
	ValidMode     = fleetstate.ValidMode
	Active        = fleetstate.Active
	Terminal      = fleetstate.Terminal
)
