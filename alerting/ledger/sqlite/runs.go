package sqlite

import "github.com/unyo-ops/unyo/alerting/ledger"

// The run history's methods are the shared ones (package sqlstore).
var _ ledger.RunHistoryStore = (*Store)(nil)
