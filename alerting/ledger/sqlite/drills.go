package sqlite

import "github.com/unyo-ops/unyo/alerting/ledger"

// The drill and password stores' methods are the shared ones (package
// sqlstore).
var (
	_ ledger.DrillStore    = (*Store)(nil)
	_ ledger.PasswordStore = (*Store)(nil)
)
