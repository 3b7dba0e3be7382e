package sqlite

import (
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The run history's methods are the shared ones (package sqlstore).
var _ ledger.RunHistoryStore = (*Store)(nil)

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func timeOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}
