package postgres

import (
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet"
)

func TestRunHistoryConformance(t *testing.T) {
	ledgertest.RunRunHistory(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}

// TestDBMaintenanceJob runs the built-in db-maintenance job on a real
// PostgreSQL ledger.
func TestDBMaintenanceJob(t *testing.T) {
	s, _ := openTest(t)
	b := jobnet.Builtins(s.Exec)["db-maintenance"]
	code, out, err := b(t.Context(), jobnet.Task{DBMaint: configsDBMaint()})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, out)
	}
	t.Logf("\n%s", out)
}

func configsDBMaint() configs.JobDBMaint {
	return configs.JobDBMaint{Operations: []string{"vacuum", "analyze", "reindex"}}
}

func TestReportsConformance(t *testing.T) {
	ledgertest.RunReports(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}
