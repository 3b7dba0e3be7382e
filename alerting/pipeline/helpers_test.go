package pipeline_test

import "github.com/unyo-ops/unyo/alerting/ledger"

func ledgerAll() ledger.Filter { return ledger.Filter{Limit: 1000} }
