package availability

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

const pageSize = 1000

// Load reads from the ledger the outage incidents (Options.Counts) that
// overlap the period, each with its timeline, and every maintenance window
// (none when the store keeps no escalation state). Input.Targets is left
// for the caller.
func Load(ctx context.Context, s ledger.Store, o Options) (Input, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return Input{}, err
	}
	until := o.until()
	var in Input
	seen := map[int64]bool{}
	keep := func(inc incident.Incident) error {
		if seen[inc.ID] || !o.Counts(inc) || !overlaps(inc, o.From, until) {
			return nil
		}
		seen[inc.ID] = true
		tl, err := s.Timeline(ctx, inc.ID)
		if err != nil {
			return fmt.Errorf("availability: timeline of incident %d: %w", inc.ID, err)
		}
		in.Incidents = append(in.Incidents, Incident{Incident: inc, Timeline: tl})
		return nil
	}
	// Every active incident, however long ago it opened.
	for before := int64(0); ; {
		page, err := s.Incidents(ctx, ledger.Filter{States: []incident.State{incident.Open, incident.Acknowledged},
			Limit: pageSize, BeforeID: before})
		if err != nil {
			return Input{}, fmt.Errorf("availability: %w", err)
		}
		for _, inc := range page {
			if err := keep(inc); err != nil {
				return Input{}, err
			}
		}
		if len(page) < pageSize {
			break
		}
		before = page[len(page)-1].ID
	}
	// The others, newest first: ids grow with opening time, so a page
	// wholly opened before From - Lookback ends it.
	horizon := o.From.Add(-Lookback)
	for before := int64(0); ; {
		page, err := s.Incidents(ctx, ledger.Filter{Limit: pageSize, BeforeID: before})
		if err != nil {
			return Input{}, fmt.Errorf("availability: %w", err)
		}
		older := 0
		for _, inc := range page {
			if err := keep(inc); err != nil {
				return Input{}, err
			}
			if inc.OpenedAt.Before(horizon) {
				older++
			}
		}
		if len(page) < pageSize || older == len(page) {
			break
		}
		before = page[len(page)-1].ID
	}
	slices.SortFunc(in.Incidents, func(a, b Incident) int { return cmp.Compare(a.ID, b.ID) })
	if es, ok := s.(ledger.EscalationStore); ok {
		ms, err := es.Maintenances(ctx)
		if err != nil {
			return Input{}, fmt.Errorf("availability: maintenance windows: %w", err)
		}
		in.Maintenance = ms
	}
	return in, nil
}

// overlaps reports whether an incident may have been down in [from, until):
// opened (or first seen) before until, and not resolved or closed by from.
func overlaps(inc incident.Incident, from, until time.Time) bool {
	if !inc.OpenedAt.Before(until) && !inc.FirstSeen.Before(until) {
		return false
	}
	for _, t := range []*time.Time{inc.ResolvedAt, inc.ClosedAt} {
		if t != nil && !t.After(from) {
			return false
		}
	}
	return true
}
