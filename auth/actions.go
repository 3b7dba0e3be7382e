package auth

import (
	"maps"
	"slices"
)

// Action names one thing a caller can do; every route of a node names
// the Action it performs (see Mux).
type Action string

// Public is the action of the few routes anyone may call: the health
// probes and the login itself (which proves an identity by its body).
const Public Action = "public"

// Actions. Names read "object.verb".
const (
	ActionSelf Action = "self" // whoami, logout, one's own password and tokens

	ActionIncidentRead    Action = "incident.read"
	ActionIncidentAck     Action = "incident.ack"
	ActionIncidentResolve Action = "incident.resolve"
	ActionIncidentClose   Action = "incident.close"
	ActionIncidentComment Action = "incident.comment"
	ActionIncidentReport  Action = "incident.report" // write the fault report
	ActionEventSend       Action = "event.send"

	ActionMaintenanceRead  Action = "maintenance.read"
	ActionMaintenanceWrite Action = "maintenance.write"
	ActionOnCallRead       Action = "oncall.read"
	ActionLedgerExport     Action = "ledger.export"
	ActionReportRead       Action = "report.read"
	ActionTargetRead       Action = "target.read"
	ActionMetricsRead      Action = "metrics.read"
	ActionSamplesRead      Action = "samples.read" // a target's samples and rollups
	ActionReportMake       Action = "report.make"  // make a monthly report
	ActionRunbookRead      Action = "runbook.read" // list and read the runbooks

	ActionBackupRead    Action = "backup.read"    // the backup catalog
	ActionBackupRun     Action = "backup.run"     // back up a source now
	ActionBackupVerify  Action = "backup.verify"  // restore a generation into a scratch place
	ActionBackupPrune   Action = "backup.prune"   // delete generations by the policy
	ActionBackupRestore Action = "backup.restore" // restore to a path or database on the node

	ActionJobnetRead  Action = "jobnet.read"
	ActionJobnetStart Action = "jobnet.start"
	ActionRunRead     Action = "run.read"
	ActionRunHold     Action = "run.hold"
	ActionRunRelease  Action = "run.release"
	ActionRunSkip     Action = "run.skip"
	ActionRunKill     Action = "run.kill"
	ActionRunRerun    Action = "run.rerun"

	ActionDrillRead      Action = "drill.read"      // failover drills and their RTO/RPO
	ActionPasswordRead   Action = "password.read"   // which accounts rotate, when (never a password)
	ActionPasswordReveal Action = "password.reveal" // a rotated password in clear (audited)

	ActionClusterRead     Action = "cluster.read"     // status
	ActionClusterJoin     Action = "cluster.join"     // add a member
	ActionClusterLeave    Action = "cluster.leave"    // remove a member
	ActionClusterTransfer Action = "cluster.transfer" // move leadership
	ActionClusterConfig   Action = "cluster.config"   // replace the shared configuration
	ActionClusterToken    Action = "cluster.token"    // issue join tokens
	ActionClusterInternal Action = "cluster.internal" // forward, self, recheck: members only

	ActionSessionRead Action = "session.read" // who else is logged in
	ActionUserRead    Action = "user.read"
	ActionUserWrite   Action = "user.write"  // add, disable, set role, reset password
	ActionTokenAdmin  Action = "token.admin" // list and revoke anyone's tokens
	ActionAuditRead   Action = "audit.read"

	ActionWebView Action = "web.view" // the console's overview and its live stream

	// Agent releases, rollouts and re-homing (package rollout).
	ActionReleaseRead         Action = "release.read"         // list releases
	ActionReleaseWrite        Action = "release.write"        // add a release, change its mode and message
	ActionRolloutRead         Action = "rollout.read"         // rollout status, per agent, with its log
	ActionRolloutStart        Action = "rollout.start"        // start a rollout
	ActionRolloutControl      Action = "rollout.control"      // pause, resume
	ActionAgentMove           Action = "agent.move"           // order agents to a new cluster
	ActionAgentNotMoved       Action = "agent.not-moved"      // who has not moved
	ActionClusterDecommission Action = "cluster.decommission" // retire this cluster (refused while agents remain, unless waived)
	ActionAgentRead           Action = "agent.read"           // agents, liveness, inventories, diffs
	ActionAgentEnroll         Action = "agent.enroll"         // an agent enrols itself with a group token
	ActionAgentToken          Action = "agent.token"          // make, list, revoke enrolment tokens
	ActionAgentAdmin          Action = "agent.admin"          // import, delete agents, set group secrets
	ActionAgentTag            Action = "agent.tag"            // set an enrolled agent's tags (which tag:TAG jobs it takes)
	ActionAgentInfo           Action = "agent.info"           // remote: system information, hardware, software, processes
	ActionAgentFiles          Action = "agent.files"          // remote: file search and view
	ActionAgentCommand        Action = "agent.command"        // remote: commands from the allowlist (each command's roles also apply)
)

var (
	viewerUp   = []Role{RoleViewer, RoleOperator, RoleOpsSE, RoleSiteManager, RoleAdmin}
	operatorUp = []Role{RoleOperator, RoleOpsSE, RoleSiteManager, RoleAdmin}
	opsSEUp    = []Role{RoleOpsSE, RoleSiteManager, RoleAdmin}
	managerUp  = []Role{RoleSiteManager, RoleAdmin}
	adminOnly  = []Role{RoleAdmin}
)

func with(rs []Role, more ...Role) []Role { return append(slices.Clone(rs), more...) }

// permissions is the one permission table: action → the roles allowed.
// docs/permissions.md is generated from it (TestPermissionsDoc).
var permissions = map[Action][]Role{
	ActionSelf: viewerUp,

	ActionIncidentRead:    viewerUp,
	ActionIncidentAck:     operatorUp,
	ActionIncidentResolve: operatorUp,
	ActionIncidentClose:   opsSEUp,
	ActionIncidentComment: operatorUp,
	ActionIncidentReport:  operatorUp,
	ActionEventSend:       operatorUp,

	ActionMaintenanceRead:  viewerUp,
	ActionMaintenanceWrite: opsSEUp,
	ActionOnCallRead:       viewerUp,
	ActionLedgerExport:     viewerUp,
	ActionReportRead:       viewerUp,
	ActionTargetRead:       viewerUp,
	ActionMetricsRead:      with(viewerUp, RoleMember),
	ActionSamplesRead:      viewerUp,
	ActionReportMake:       opsSEUp,
	ActionRunbookRead:      viewerUp,

	ActionBackupRead:    viewerUp,
	ActionBackupRun:     operatorUp,
	ActionBackupVerify:  operatorUp,
	ActionBackupPrune:   opsSEUp,
	ActionBackupRestore: adminOnly,

	ActionJobnetRead:  viewerUp,
	ActionJobnetStart: operatorUp,
	ActionRunRead:     viewerUp,
	ActionRunHold:     operatorUp,
	ActionRunRelease:  operatorUp,
	ActionRunSkip:     opsSEUp,
	ActionRunKill:     operatorUp,
	ActionRunRerun:    operatorUp,

	ActionDrillRead:      viewerUp,
	ActionPasswordRead:   opsSEUp,
	ActionPasswordReveal: opsSEUp,

	ActionClusterRead:     with(viewerUp, RoleMember),
	ActionClusterJoin:     {RoleAdmin, RoleJoiner},
	ActionClusterLeave:    {RoleAdmin, RoleMember},
	ActionClusterTransfer: {RoleAdmin, RoleMember},
	ActionClusterConfig:   {RoleAdmin, RoleMember},
	ActionClusterToken:    adminOnly,
	ActionClusterInternal: {RoleMember},

	ActionSessionRead: viewerUp,
	ActionUserRead:    adminOnly,
	ActionUserWrite:   adminOnly,
	ActionTokenAdmin:  adminOnly,
	ActionAuditRead:   managerUp,

	ActionWebView: viewerUp,

	ActionReleaseRead:         viewerUp,
	ActionReleaseWrite:        adminOnly,
	ActionRolloutRead:         viewerUp,
	ActionRolloutStart:        adminOnly,
	ActionRolloutControl:      opsSEUp,
	ActionAgentMove:           adminOnly,
	ActionAgentNotMoved:       viewerUp,
	ActionClusterDecommission: adminOnly,
	ActionAgentRead:           viewerUp,
	ActionAgentEnroll:         {RoleEnroller},
	ActionAgentToken:          adminOnly,
	ActionAgentAdmin:          adminOnly,
	ActionAgentTag:            adminOnly,
	ActionAgentInfo:           operatorUp,
	ActionAgentFiles:          opsSEUp,
	ActionAgentCommand:        opsSEUp,
}

// RoleEnroller is the role of a caller that presented a valid agent
// enrolment token: it may enrol an agent, nothing else.
const RoleEnroller Role = "enroller"

// RoleJoiner is the role of a caller that presented a valid cluster join
// token: it may ask to join, nothing else.
const RoleJoiner Role = "joiner"

// Allowed reports whether role may perform a. Public is allowed to all,
// an action missing from the table to none.
func Allowed(role Role, a Action) bool {
	if a == Public {
		return true
	}
	return slices.Contains(permissions[a], role)
}

// Known reports whether a is in the permission table (or Public).
func Known(a Action) bool {
	_, ok := permissions[a]
	return ok || a == Public
}

// Actions lists every action of the table, sorted.
func Actions() []Action { return slices.Sorted(maps.Keys(permissions)) }

// RolesFor lists the roles allowed to perform a.
func RolesFor(a Action) []Role { return slices.Clone(permissions[a]) }
