package postgres

import "github.com/unyo-ops/unyo/alerting/ledger"

// The monthly report store's methods are the shared ones (package sqlstore).
var _ ledger.ReportStore = (*Store)(nil)
