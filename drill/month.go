package drill

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// InMonth returns the drills started in the month that begins at
// month's first day in loc (nil: UTC), oldest first: what the monthly
// report lists. A store without drills gives none.
func InMonth(ctx context.Context, s ledger.Store, month time.Time, loc *time.Location) ([]ledger.DrillRecord, error) {
	ds, ok := s.(ledger.DrillStore)
	if !ok {
		return nil, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	m := month.In(loc)
	from := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, loc)
	out, err := ds.Drills(ctx, ledger.DrillFilter{From: from, To: from.AddDate(0, 1, 0), Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("drills of %s: %w", from.Format("2006-01"), err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
