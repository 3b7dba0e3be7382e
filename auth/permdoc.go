package auth

import (
	"fmt"
	"strings"
)

// PermissionsMarkdown renders the permission table as the Markdown of
// docs/permissions.md (a test keeps the page equal to it).
func PermissionsMarkdown() string {
	var b strings.Builder
	b.WriteString(`# Permissions

Generated from the permission table in auth/actions.go (` + "`go test ./auth -run TestPermissionsDoc -update`" + `);
do not edit by hand. Every HTTP route of a node names one of these actions
(` + "`auth.Mux`" + ` refuses a route without one); the guard answers 401 to a
caller without a valid credential and 403 to a role not marked here. The
health probes ` + "`/healthz`" + `, ` + "`/readyz`" + ` and ` + "`POST /api/v1/login`" + ` are public;
` + "`/metrics`" + ` is public only with ` + "`auth.open_metrics: true`" + `.

Roles, least first: viewer, operator, ops-se, site-manager, admin. ` + "`member`" + `
is a cluster node (its member credential), ` + "`joiner`" + ` a node presenting a
cluster join token, ` + "`enroller`" + ` an agent presenting a group enrolment token
(` + "`unyo agent enroll`" + `). The escalation roles map onto them: operator → operator,
operations-se → ops-se, site-manager → site-manager, the outside parties
(maintenance-center, vendor, help-desk) → viewer.

`)
	roles := append(append([]Role{}, UserRoles...), RoleMember, RoleJoiner, RoleEnroller)
	b.WriteString("| action |")
	for _, r := range roles {
		fmt.Fprintf(&b, " %s |", r)
	}
	b.WriteString("\n| --- |")
	for range roles {
		b.WriteString(" :-: |")
	}
	b.WriteString("\n")
	for _, a := range Actions() {
		fmt.Fprintf(&b, "| `%s` |", a)
		for _, r := range roles {
			if Allowed(r, a) {
				b.WriteString(" ✓ |")
			} else {
				b.WriteString("   |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(`
Beyond the table: a user changes only their own password (` + "`self`" + `) and
makes tokens only for themselves with a role at most their own, unless an
admin (` + "`token.admin`" + `); the last enabled admin cannot be disabled or
demoted; a demoted user's tokens fall to the user's new role. The
console's live stream (` + "`/events`, `web.view`" + `) sends an event meant for an
action only to a viewer allowed it: ` + "`agent`" + ` events need ` + "`agent.read`" + `,
` + "`rollout`" + ` events ` + "`rollout.read`" + ` (docs/console.md).
`)
	return b.String()
}
