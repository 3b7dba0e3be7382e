package escalation

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// ExportHeader is the first row of ExportCSV.
var ExportHeader = []string{"id", "target", "check", "severity", "state", "opened_at", "acknowledged_at", "resolved_at",
	"closed_at", "mtta_seconds", "mttr_seconds", "escalation_policy", "escalation_level", "acknowledged_by", "resolved_by",
	"occurrences", "message", "cause", "action", "prevention", "reported_by", "reported_role"}

// ExportCSV writes the fault ledger as CSV, one row per incident opened in
// [from, to), oldest first: its times, MTTA (opened → acknowledged) and
// MTTR (opened → resolved) in seconds, the escalation level reached and the
// fault report. Times are RFC 3339 in UTC; empty when not reached.
func ExportCSV(ctx context.Context, s ledger.Store, from, to time.Time, w io.Writer) (int, error) {
	es, _ := s.(ledger.EscalationStore)
	var incs []incident.Incident
	before := int64(0)
	for {
		page, err := s.Incidents(ctx, ledger.Filter{Limit: 1000, BeforeID: before})
		if err != nil {
			return 0, err
		}
		older := 0
		for _, inc := range page {
			if !inc.OpenedAt.Before(from) && inc.OpenedAt.Before(to) {
				incs = append(incs, inc)
			}
			if inc.OpenedAt.Before(from) {
				older++
			}
		}
		// Ids grow with opening time, so a page wholly before from ends it.
		if len(page) < 1000 || older == len(page) {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.Reverse(incs)
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return 0, err
	}
	ts := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	secs := func(a time.Time, b *time.Time) string {
		if b == nil {
			return ""
		}
		return strconv.FormatInt(int64(b.Sub(a).Round(time.Second)/time.Second), 10)
	}
	for _, inc := range incs {
		var (
			policy, level string
			r             ledger.Report
		)
		if es != nil {
			e, err := es.Escalation(ctx, inc.ID)
			switch {
			case err == nil:
				policy, level = e.Policy, strconv.Itoa(e.Level)
			case !errors.Is(err, incident.ErrNotFound):
				return 0, err
			}
			r, err = es.Report(ctx, inc.ID)
			if err != nil && !errors.Is(err, incident.ErrNotFound) {
				return 0, err
			}
		}
		opened := inc.OpenedAt
		row := []string{strconv.FormatInt(inc.ID, 10), inc.Target, inc.Check, string(inc.Severity), string(inc.State),
			ts(&opened), ts(inc.AckedAt), ts(inc.ResolvedAt), ts(inc.ClosedAt), secs(opened, inc.AckedAt), secs(opened, inc.ResolvedAt),
			policy, level, inc.AckedBy, inc.ResolvedBy, strconv.FormatInt(inc.Count, 10), inc.Message,
			r.Cause, r.Action, r.Prevention, r.ReportedBy, r.Role}
		if err := cw.Write(row); err != nil {
			return 0, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return 0, fmt.Errorf("export: %w", err)
	}
	return len(incs), nil
}
