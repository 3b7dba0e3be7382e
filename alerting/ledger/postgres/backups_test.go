package postgres

import (
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

func TestBackupsConformance(t *testing.T) {
	ledgertest.RunBackups(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}
