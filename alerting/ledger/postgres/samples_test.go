package postgres

import (
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

func TestSampleConformance(t *testing.T) {
	ledgertest.RunSamples(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}

func BenchmarkAddSamples(b *testing.B) {
	ledgertest.BenchSamples(b, func(b *testing.B) ledger.Store {
		s, _ := openTest(b)
		return s
	})
}
