package postgres

import "github.com/unyo-ops/unyo/auth"

// The auth.Store methods are the shared ones (package sqlstore). AppendAudit
// takes pg_advisory_xact_lock(AuditLockKey) in its transaction before it
// reads the last entry (bulk.LockAudit).
var _ auth.Store = (*Store)(nil)

// AuditLockKey is the pg_advisory_xact_lock key AppendAudit holds while it
// reads the last entry and inserts the next, so appends from every node
// sharing the database make one chain.
const AuditLockKey int64 = 0x756e796f61756474 // "unyoaudt"
