package sqlite

import "github.com/unyo-ops/unyo/auth"

// The auth.Store methods are the shared ones (package sqlstore). Appends to
// the audit log are serialised by the single write connection and BEGIN
// IMMEDIATE, also against other processes that open the file (they wait
// for the write lock up to the busy timeout).
var _ auth.Store = (*Store)(nil)
