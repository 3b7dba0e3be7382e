package auth

import (
	"fmt"
	"slices"
)

// Role is what an identity may do. The user roles are ordered from least
// to most: viewer, operator, ops-se, site-manager, admin. RoleMember (a
// cluster node) and RoleAgent (a managed server's agent) are not user
// roles: no user or token can hold them.
type Role string

// Roles.
const (
	RoleViewer      Role = "viewer"
	RoleOperator    Role = "operator"
	RoleOpsSE       Role = "ops-se"
	RoleSiteManager Role = "site-manager"
	RoleAdmin       Role = "admin"
	RoleMember      Role = "member"
	RoleAgent       Role = "agent"
)

// UserRoles are the roles a user or an API token can hold, least first.
var UserRoles = []Role{RoleViewer, RoleOperator, RoleOpsSE, RoleSiteManager, RoleAdmin}

// Valid reports whether r is a user role.
func (r Role) Valid() bool { return slices.Contains(UserRoles, r) }

// rank orders user roles (-1 for the others).
func (r Role) rank() int { return slices.Index(UserRoles, r) }

// Covers reports whether r holds at least the rights of o (both user
// roles): a token may not be given a role above its owner's.
func (r Role) Covers(o Role) bool { return r.Valid() && o.Valid() && r.rank() >= o.rank() }

// ParseRole checks a user role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("role %q: want one of viewer, operator, ops-se, site-manager, admin", s)
	}
	return r, nil
}

// EscalationRole maps the escalation roles of the alerting configuration
// (operator, operations-se, site-manager, maintenance-center, vendor,
// help-desk) onto user roles: who is paged as that role logs in as this.
// Outside parties (maintenance center, vendor, help desk) may look but
// not change state, so they map to viewer.
func EscalationRole(name string) Role {
	switch name {
	case "operator":
		return RoleOperator
	case "operations-se", "ops-se":
		return RoleOpsSE
	case "site-manager":
		return RoleSiteManager
	case "admin":
		return RoleAdmin
	}
	return RoleViewer
}
