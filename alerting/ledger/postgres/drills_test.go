package postgres

import (
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

func TestDrillsConformance(t *testing.T) {
	ledgertest.RunDrills(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}

func TestPasswordsConformance(t *testing.T) {
	ledgertest.RunPasswords(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}
