package sqlite

import (
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

func TestRunHistoryConformance(t *testing.T) {
	ledgertest.RunRunHistory(t, func(t *testing.T) ledger.Store { return openTest(t) })
}

func TestReportsConformance(t *testing.T) {
	ledgertest.RunReports(t, func(t *testing.T) ledger.Store { return openTest(t) })
}
