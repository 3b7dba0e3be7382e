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
}

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
