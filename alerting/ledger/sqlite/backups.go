package sqlite

import "github.com/unyo-ops/unyo/alerting/ledger"

// The backup catalog's methods are the shared ones (package sqlstore).
var _ ledger.BackupStore = (*Store)(nil)
