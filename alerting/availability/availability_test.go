package availability_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
)

var jst = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return loc
}()

// nov is a time in November 2026, Tokyo time (1 November is a Sunday).
func nov(day, hour, min int) time.Time { return time.Date(2026, 11, day, hour, min, 0, 0, jst) }

var (
	novFrom = nov(1, 0, 0)
	novTo   = time.Date(2026, 12, 1, 0, 0, 0, 0, jst)
	month   = novTo.Sub(novFrom) // 720h
)

// step is one timeline entry: a kind at a time.
type step struct {
	kind incident.Kind
	at   time.Time
}

// outage builds an incident on target/check (source: the check) from its
// timeline; the incident's own times follow from it.
func outage(id int64, target, check string, labels map[string]string, steps ...step) availability.Incident {
	inc := availability.Incident{Incident: incident.Incident{ID: id, Target: target, Check: check, Source: check,
		Severity: incident.Critical, State: incident.Open, Labels: labels, OpenedAt: steps[0].at, FirstSeen: steps[0].at}}
	for i, s := range steps {
		at := s.at
		switch s.kind {
		case incident.KindRecovered:
			inc.Recovered, inc.RecoveredAt = true, &at
		case incident.KindRecurred:
			inc.Recovered, inc.RecoveredAt = false, nil
		case incident.KindResolved:
			inc.State, inc.ResolvedAt = incident.Resolved, &at
		case incident.KindClosed:
			inc.State, inc.ClosedAt = incident.Closed, &at
		}
		inc.Timeline = append(inc.Timeline, incident.Entry{IncidentID: id, Seq: i + 1, At: at, Kind: s.kind, State: inc.State})
	}
	return inc
}

// received sets the receive time of timeline entry i.
func received(inc availability.Incident, i int, at time.Time) availability.Incident {
	inc.Timeline[i].Received = &at
	return inc
}

func opened(at time.Time) step    { return step{incident.KindOpened, at} }
func recovered(at time.Time) step { return step{incident.KindRecovered, at} }
func recurred(at time.Time) step  { return step{incident.KindRecurred, at} }
func resolved(at time.Time) step  { return step{incident.KindResolved, at} }

func oneOff(id int64, scope, match string, from, to time.Time) ledger.Maintenance {
	return ledger.Maintenance{ID: id, Name: "w", Scope: scope, Match: match, Start: from, End: &to, CreatedBy: "x"}
}

// want is one target's expected figures.
type want struct {
	target                                string
	down, planned, unplanned, maintenance time.Duration
	incidents                             []int64
	overBudget                            bool
	availabilityOver                      time.Duration // the time outside maintenance availability is taken over (0: the month less maintenance)
}

func TestCompute(t *testing.T) {
	site := map[string]string{"site": "tokyo-1", "role": "db"}
	firstSunday := ledger.Maintenance{ID: 7, Name: "monthly", Scope: ledger.ScopeSite, Match: "tokyo-1",
		Start: nov(1, 0, 0).AddDate(-1, 0, 0), Cron: "0 1 * * SUN#1", Duration: 12 * time.Hour, TimeZone: "Asia/Tokyo", CreatedBy: "x"}
	ended := oneOff(8, ledger.ScopeTarget, "web*", nov(10, 0, 0), nov(10, 6, 0))
	endedAt := nov(10, 2, 0)
	ended.EndedAt = &endedAt
	for _, c := range []struct {
		name  string
		in    availability.Input
		now   time.Time
		want  []want
		worst string
	}{
		{
			name: "one outage, recovered then resolved",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), recovered(nov(3, 10, 30)), resolved(nov(3, 11, 0))),
			}},
			want: []want{{target: "web01", down: 30 * time.Minute, unplanned: 30 * time.Minute, incidents: []int64{1}}},
		},
		{
			name: "overlapping incidents on one target count once",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), recovered(nov(3, 11, 0))),
				outage(2, "web01", "http", nil, opened(nov(3, 10, 30)), recovered(nov(3, 11, 30))),
				outage(3, "web01", "ping", nil, opened(nov(3, 11, 15)), resolved(nov(3, 11, 20))),
			}},
			want: []want{{target: "web01", down: 90 * time.Minute, unplanned: 90 * time.Minute, incidents: []int64{1, 2, 3}}},
		},
		{
			name: "checks that are no outage are left out",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "disk:/var", nil, opened(nov(3, 10, 0))),
				outage(2, "web01", "snmp", nil, opened(nov(3, 10, 0))),
			}},
		},
		{
			name: "window straddling the start of the period",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "web01", "ping", nil, opened(nov(1, 0, 0).Add(-time.Hour)), resolved(nov(1, 3, 0))),
				},
				Maintenance: []ledger.Maintenance{oneOff(1, ledger.ScopeTarget, "web01", nov(1, 0, 0).Add(-2*time.Hour), nov(1, 2, 0))},
			},
			want: []want{{target: "web01", down: 3 * time.Hour, planned: 2 * time.Hour, unplanned: time.Hour,
				maintenance: 2 * time.Hour, incidents: []int64{1}}},
		},
		{
			name: "window straddling the end of the period",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "web01", "ping", nil, opened(nov(30, 22, 0))),
				},
				Maintenance: []ledger.Maintenance{oneOff(1, ledger.ScopeTarget, "web*", nov(30, 23, 0), novTo.Add(5*time.Hour))},
			},
			want: []want{{target: "web01", down: 2 * time.Hour, planned: time.Hour, unplanned: time.Hour,
				maintenance: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "recurring window on the first Sunday (1 November, 01:00-13:00) covers the site",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "db01", "ping", site, opened(nov(1, 12, 0)), resolved(nov(1, 14, 0))),
					// The second Sunday is no window.
					outage(2, "db01", "ping", site, opened(nov(8, 1, 0)), resolved(nov(8, 1, 30))),
				},
				Maintenance: []ledger.Maintenance{firstSunday},
			},
			want: []want{{target: "db01", down: 150 * time.Minute, planned: time.Hour, unplanned: 90 * time.Minute,
				maintenance: 12 * time.Hour, incidents: []int64{1, 2}}},
		},
		{
			name: "a window of another site, target or tag does not cover",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "web01", "ping", map[string]string{"site": "osaka-1"}, opened(nov(1, 2, 0)), resolved(nov(1, 3, 0))),
				},
				Maintenance: []ledger.Maintenance{firstSunday, oneOff(2, ledger.ScopeTarget, "db*", nov(1, 0, 0), nov(2, 0, 0)),
					oneOff(3, ledger.ScopeTag, "role=db", nov(1, 0, 0), nov(2, 0, 0))},
			},
			want: []want{{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "a window ended early covers only until it ended",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "web01", "ping", nil, opened(nov(10, 1, 0)), resolved(nov(10, 4, 0))),
				},
				Maintenance: []ledger.Maintenance{ended},
			},
			want: []want{{target: "web01", down: 3 * time.Hour, planned: time.Hour, unplanned: 2 * time.Hour,
				maintenance: 2 * time.Hour, incidents: []int64{1}}},
		},
		{
			name: "an open incident is down until the end of a past period",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(30, 23, 0))),
			}},
			want: []want{{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "an open incident is down until now in a period not ended",
			now:  nov(20, 12, 0),
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(20, 10, 0))),
				outage(2, "web02", "ping", nil, opened(nov(25, 10, 0))), // a clock ahead: after now
			}},
			want: []want{{target: "web01", down: 2 * time.Hour, unplanned: 2 * time.Hour, incidents: []int64{1},
				availabilityOver: nov(20, 12, 0).Sub(novFrom)}},
		},
		{
			name: "recovered then recurred: only the down intervals count",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), recovered(nov(3, 10, 20)), recurred(nov(3, 11, 0)),
					recovered(nov(3, 11, 10)), resolved(nov(3, 12, 0))),
			}},
			want: []want{{target: "web01", down: 30 * time.Minute, unplanned: 30 * time.Minute, incidents: []int64{1}}},
		},
		{
			name: "without a timeline: opened to the last recovery",
			in: availability.Input{Incidents: func() []availability.Incident {
				inc := outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), recovered(nov(3, 10, 20)), recurred(nov(3, 11, 0)),
					recovered(nov(3, 11, 10)), resolved(nov(3, 12, 0)))
				inc.Timeline = nil
				return []availability.Incident{inc}
			}()},
			want: []want{{target: "web01", down: 70 * time.Minute, unplanned: 70 * time.Minute, incidents: []int64{1}}},
		},
		{
			name: "an entry earlier than the one before it (a late event) does not go back in time",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), recovered(nov(3, 10, 30)), recurred(nov(3, 9, 0)),
					resolved(nov(3, 11, 0))),
			}},
			want: []want{{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "incidents before and after the period are left out; one resolved in it counts from From",
			in: availability.Input{Incidents: []availability.Incident{
				outage(1, "web01", "ping", nil, opened(nov(1, 0, 0).Add(-3*time.Hour)), resolved(nov(1, 0, 0).Add(-time.Hour))),
				outage(2, "web01", "ping", nil, opened(novTo), resolved(novTo.Add(time.Hour))),
				outage(3, "web02", "ping", nil, opened(nov(1, 0, 0).Add(-3*time.Hour)), resolved(nov(1, 0, 45))),
			}},
			want: []want{{target: "web02", down: 45 * time.Minute, unplanned: 45 * time.Minute, incidents: []int64{3}}},
		},
		{
			name: "over budget, worst first; a known target without outage is listed at 100%",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), resolved(nov(3, 11, 0))),
					outage(2, "db01", "pg", nil, opened(nov(4, 10, 0)), resolved(nov(4, 12, 1))),
				},
				Targets: []availability.KnownTarget{{Name: "app01"}, {Name: "web01"}},
			},
			want: []want{
				{target: "db01", down: 121 * time.Minute, unplanned: 121 * time.Minute, incidents: []int64{2}, overBudget: true},
				{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}},
				{target: "app01", incidents: []int64{}},
			},
			worst: "db01",
		},
		{
			// Issue 17 item 4: the source said 9999-12-31; the node received
			// it at 10:00. Counted from the receive time, not hidden.
			name: "a down event dated in the future counts from its receive time",
			in: availability.Input{Incidents: []availability.Incident{
				received(outage(1, "web01", "ping", nil, opened(time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)), resolved(nov(3, 11, 0))),
					0, nov(3, 10, 0)),
			}},
			want: []want{{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "a late down event counts from its source time",
			in: availability.Input{Incidents: []availability.Incident{
				received(outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), resolved(nov(3, 11, 0))), 0, nov(3, 10, 20)),
			}},
			want: []want{{target: "web01", down: time.Hour, unplanned: time.Hour, incidents: []int64{1}}},
		},
		{
			name: "a known target's labels bring its windows",
			in: availability.Input{
				Incidents: []availability.Incident{
					outage(1, "db01", "ping", nil, opened(nov(1, 12, 0)), resolved(nov(1, 14, 0))),
				},
				Maintenance: []ledger.Maintenance{firstSunday},
				Targets:     []availability.KnownTarget{{Name: "db01", Labels: site}},
			},
			want: []want{{target: "db01", down: 2 * time.Hour, planned: time.Hour, unplanned: time.Hour,
				maintenance: 12 * time.Hour, incidents: []int64{1}}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := availability.Options{From: novFrom, To: novTo, Now: c.now, Location: jst,
				Checks: []string{"ping"}, Sources: []string{"http", "pg"}}
			r, err := availability.Compute(c.in, o)
			if err != nil {
				t.Fatal(err)
			}
			if r.Budget != 2*time.Hour {
				t.Errorf("budget %s, want 2h for one calendar month", r.Budget)
			}
			if len(r.Targets) != len(c.want) {
				t.Fatalf("%d targets, want %d: %+v", len(r.Targets), len(c.want), r.Targets)
			}
			var unplanned time.Duration
			for i, w := range c.want {
				g := r.Targets[i]
				if g.Target != w.target || g.Down != w.down || g.Planned != w.planned || g.Unplanned != w.unplanned ||
					g.Maintenance != w.maintenance || g.OverBudget != w.overBudget {
					t.Errorf("target %d: %s down %s planned %s unplanned %s maintenance %s over %v,\n"+
						"want %s down %s planned %s unplanned %s maintenance %s over %v",
						i, g.Target, g.Down, g.Planned, g.Unplanned, g.Maintenance, g.OverBudget,
						w.target, w.down, w.planned, w.unplanned, w.maintenance, w.overBudget)
				}
				if !equalIDs(g.Incidents, w.incidents) {
					t.Errorf("%s: incidents %v, want %v", g.Target, g.Incidents, w.incidents)
				}
				over := w.availabilityOver
				if over == 0 {
					over = month - w.maintenance
				}
				wantAvail := 100 * (1 - float64(w.unplanned)/float64(over))
				if math.Abs(g.Availability-wantAvail) > 1e-9 {
					t.Errorf("%s: availability %v%%, want %v%%", g.Target, g.Availability, wantAvail)
				}
				if wantUsed := 100 * float64(w.unplanned) / float64(2*time.Hour); math.Abs(g.BudgetUsed-wantUsed) > 1e-9 {
					t.Errorf("%s: budget used %v%%, want %v%%", g.Target, g.BudgetUsed, wantUsed)
				}
				unplanned += w.unplanned
			}
			if c.worst == "" && len(c.want) > 0 {
				c.worst = c.want[0].target
			}
			if r.Summary.Worst != c.worst || r.Summary.Unplanned != unplanned || r.Summary.Targets != len(c.want) {
				t.Errorf("summary %+v, want worst %q, unplanned %s", r.Summary, c.worst, unplanned)
			}
		})
	}
}

func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSummary(t *testing.T) {
	in := availability.Input{
		Incidents: []availability.Incident{
			outage(1, "web01", "ping", nil, opened(nov(3, 10, 0)), resolved(nov(3, 12, 30))), // 2h30m: over
			outage(2, "web02", "ping", nil, opened(nov(3, 11, 0)), resolved(nov(3, 13, 0))),  // 2h, 1h of it with web01
			outage(3, "web03", "ping", nil, opened(nov(3, 12, 0)), resolved(nov(3, 15, 0))),  // 3h, 2h in maintenance
		},
		Maintenance: []ledger.Maintenance{oneOff(1, ledger.ScopeTarget, "web03", nov(3, 13, 0), nov(3, 16, 0))},
	}
	r, err := availability.Compute(in, availability.Options{From: novFrom, To: novTo, Location: jst})
	if err != nil {
		t.Fatal(err)
	}
	s := r.Summary
	if s.Targets != 3 || s.OverBudget != 1 || s.Worst != "web01" || s.WorstUnplanned != 150*time.Minute {
		t.Errorf("summary %+v: want 3 targets, 1 over budget, worst web01 with 2h30m", s)
	}
	if s.Down != 450*time.Minute || s.Planned != 2*time.Hour || s.Unplanned != 330*time.Minute {
		t.Errorf("sums: down %s planned %s unplanned %s, want 7h30m, 2h, 5h30m", s.Down, s.Planned, s.Unplanned)
	}
	// Unplanned: web01 10:00-12:30, web02 11:00-13:00, web03 12:00-13:00.
	if s.AnyUnplanned != 3*time.Hour {
		t.Errorf("any target down unplanned %s, want 3h (10:00-13:00)", s.AnyUnplanned)
	}
	if want := 100 * (1 - float64(150*time.Minute)/float64(month)); math.Abs(s.WorstAvailability-want) > 1e-9 {
		t.Errorf("worst availability %v, want %v", s.WorstAvailability, want)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"budget_seconds":7200`, `"down_seconds":9000`, `"any_unplanned_seconds":10800`, `"time_zone":"Asia/Tokyo"`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	var back availability.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Budget != r.Budget || back.Summary.AnyUnplanned != s.AnyUnplanned || back.Targets[0].Unplanned != r.Targets[0].Unplanned ||
		back.Targets[2].Planned != 2*time.Hour || !back.From.Equal(r.From) {
		t.Errorf("JSON round trip: %+v\nfrom %+v", back, r)
	}
}

func TestBudgetProrated(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to time.Time
		budget   time.Duration
		want     time.Duration
	}{
		{"November", novFrom, novTo, 0, 2 * time.Hour},
		{"February", time.Date(2026, 2, 1, 0, 0, 0, 0, jst), time.Date(2026, 3, 1, 0, 0, 0, 0, jst), 0, 2 * time.Hour},
		{"half of November", novFrom, nov(16, 0, 0), 0, time.Hour},
		{"mid November to mid December", nov(16, 0, 0), time.Date(2026, 12, 16, 0, 0, 0, 0, jst), 0,
			time.Hour + 2*time.Hour*15/31},
		{"a quarter, 3h a month", time.Date(2026, 1, 1, 0, 0, 0, 0, jst), time.Date(2026, 4, 1, 0, 0, 0, 0, jst), 3 * time.Hour, 9 * time.Hour},
		{"a day", nov(3, 0, 0), nov(4, 0, 0), 0, 4 * time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := availability.Compute(availability.Input{}, availability.Options{From: c.from, To: c.to, Location: jst, Budget: c.budget})
			if err != nil {
				t.Fatal(err)
			}
			if r.Budget != c.want {
				t.Errorf("budget %s, want %s", r.Budget, c.want)
			}
		})
	}
	// The months are Tokyo's: November in UTC starts nine hours later.
	r, err := availability.Compute(availability.Input{}, availability.Options{From: novFrom, To: novTo, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2*time.Hour*711/720 + 2*time.Hour*9/(31*24); r.Budget != want {
		t.Errorf("Tokyo's November read in UTC months: budget %s, want %s", r.Budget, want)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, c := range []struct {
		name, field, msg string
		o                availability.Options
	}{
		{"no from", "from", "required", availability.Options{To: novTo}},
		{"no to", "to", "required", availability.Options{From: novFrom}},
		{"to before from", "to", "must be after from", availability.Options{From: novTo, To: novFrom}},
		{"empty period", "to", "must be after from", availability.Options{From: novFrom, To: novFrom}},
		{"too long", "to", "at most 366 days", availability.Options{From: novFrom, To: novFrom.AddDate(1, 1, 0)}},
		{"negative budget", "budget", "must not be negative", availability.Options{From: novFrom, To: novTo, Budget: -time.Hour}},
		{"bad check pattern", "checks", `"[": not a pattern`, availability.Options{From: novFrom, To: novTo, Checks: []string{"["}}},
		{"empty source pattern", "sources", `"": not a pattern`, availability.Options{From: novFrom, To: novTo, Sources: []string{""}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := availability.Compute(availability.Input{}, c.o)
			var fe *incident.FieldError
			if !errors.As(err, &fe) || fe.Field != c.field || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got %v, want field %s: %s", err, c.field, c.msg)
			}
			if _, err := availability.Load(context.Background(), nil, c.o); !errors.As(err, &fe) || fe.Field != c.field {
				t.Errorf("Load: got %v, want field %s", err, c.field)
			}
		})
	}
}

func TestDefaultOutages(t *testing.T) {
	o := availability.Options{}
	for _, c := range []struct {
		check, source string
		want          bool
	}{
		{"ping", "ping", true},
		{"web-https", "http", true},
		{"db", "postgres", true},
		{"smtp", "tcp", true},
		{"snmp", "snmp", false},
		{"disk:/var", "threshold", false},
		{"linkDown", "trap", false},
	} {
		if got := o.Counts(incident.Incident{Check: c.check, Source: c.source}); got != c.want {
			t.Errorf("check %s source %s: counts %v, want %v", c.check, c.source, got, c.want)
		}
	}
	if !(availability.Options{Checks: []string{"process:*"}}).Counts(incident.Incident{Check: "process:nginx", Source: "http"}) {
		t.Error("a check pattern does not match")
	}
	if (availability.Options{Checks: []string{"process:*"}}).Counts(incident.Incident{Check: "web", Source: "http"}) {
		t.Error("default sources still apply when checks are given")
	}
}

// TestLoad reads a real ledger: events with their own times, an operator's
// resolve, a maintenance window; ids older than the period are paged past.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	clock := nov(1, 0, 0).AddDate(0, -6, 0)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := 0
	send := func(target, check string, st incident.Status, at time.Time) {
		t.Helper()
		n++
		clock = at
		ev := incident.Event{ID: "e" + string(rune('a'+n)) + at.Format("150405"), Source: check, Target: target, Check: check,
			Severity: incident.Critical, Status: st, Time: at, Labels: map[string]string{"site": "tokyo-1"}}
		ev.Normalize(at)
		if _, err := s.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(target string, at time.Time) {
		t.Helper()
		incs, err := s.Incidents(ctx, ledger.Filter{Target: target, States: []incident.State{incident.Open}})
		if err != nil || len(incs) != 1 {
			t.Fatalf("open incidents of %s: %v %v", target, incs, err)
		}
		if _, _, err := s.Transition(ctx, incs[0].ID, incident.Action{Kind: incident.KindResolved, By: "yamada", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	// The monthly window, made long before (a window added after an
	// outage began does not excuse it: TestLateWindowFlaggedNotApplied).
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "monthly", Scope: ledger.ScopeSite, Match: "tokyo-1",
		Start: nov(1, 0, 0).AddDate(-1, 0, 0), Cron: "0 1 * * SUN#1", Duration: 12 * time.Hour, TimeZone: "Asia/Tokyo",
		CreatedBy: "x", CreatedAt: clock}); err != nil {
		t.Fatal(err)
	}
	// Months before: down and resolved then, not in the period.
	send("old01", "ping", incident.Problem, nov(1, 0, 0).AddDate(0, -5, 0))
	resolve("old01", nov(1, 0, 0).AddDate(0, -5, 1))
	// Opened in October, still down on 1 November until 02:00, then resolved.
	send("web01", "ping", incident.Problem, nov(1, 0, 0).Add(-2*time.Hour))
	send("web01", "ping", incident.OK, nov(1, 2, 0))
	resolve("web01", nov(1, 3, 0))
	// Down on the first Sunday 12:00 → 14:00, recovered, recurred 20:00 and
	// still open.
	send("db01", "ping", incident.Problem, nov(1, 12, 0))
	send("db01", "ping", incident.OK, nov(1, 14, 0))
	send("db01", "ping", incident.Problem, nov(30, 20, 0))
	// Not an outage.
	send("db01", "disk", incident.Problem, nov(5, 12, 0))

	o := availability.Options{From: novFrom, To: novTo, Location: jst}
	in, err := availability.Load(ctx, s, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Incidents) != 2 || len(in.Maintenance) != 1 {
		t.Fatalf("loaded %d incidents and %d windows, want 2 and 1: %+v", len(in.Incidents), len(in.Maintenance), in.Incidents)
	}
	r, err := availability.Compute(in, o)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]availability.Target{}
	for _, tr := range r.Targets {
		got[tr.Target] = tr
	}
	// web01: 00:00-02:00 on 1 November, 01:00-02:00 of it in the window.
	if w := got["web01"]; w.Down != 2*time.Hour || w.Planned != time.Hour || w.Unplanned != time.Hour {
		t.Errorf("web01: %+v", w)
	}
	// db01: 12:00-14:00 (1h planned) and 20:00-24:00 on the 30th.
	if d := got["db01"]; d.Down != 6*time.Hour || d.Planned != time.Hour || d.Unplanned != 5*time.Hour || !d.OverBudget {
		t.Errorf("db01: %+v", d)
	}
	if len(got) != 2 {
		t.Errorf("targets %v", r.Targets)
	}
}

// TestLoadLongRunning: an outage opened long before the period and still
// open is found behind pages of older incidents.
func TestLoadLongRunning(t *testing.T) {
	ctx := context.Background()
	clock := novFrom.AddDate(0, 0, -200)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ev := func(id, target, check string, at time.Time) incident.Event {
		e := incident.Event{ID: id, Source: check, Target: target, Check: check, Severity: incident.Critical, Time: at}
		e.Normalize(at)
		return e
	}
	if _, err := s.ApplyEvents(ctx, []incident.Event{ev("down", "nas01", "ping", clock)}); err != nil {
		t.Fatal(err)
	}
	clock = novFrom.AddDate(0, 0, -100)
	var evs []incident.Event
	for i := range 2500 {
		evs = append(evs, ev(fmt.Sprintf("disk%d", i), fmt.Sprintf("srv%04d", i), "disk", clock))
	}
	if _, err := s.ApplyEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	o := availability.Options{From: novFrom, To: novTo, Location: jst}
	in, err := availability.Load(ctx, s, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Incidents) != 1 || in.Incidents[0].Target != "nas01" || len(in.Incidents[0].Timeline) != 1 {
		t.Fatalf("loaded %+v, want nas01's outage with its timeline", in.Incidents)
	}
	r, err := availability.Compute(in, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Targets) != 1 || r.Targets[0].Down != month || r.Targets[0].Availability != 0 {
		t.Errorf("nas01 down all month: %+v", r.Targets)
	}
}

// TestLateWindowFlaggedNotApplied is the one maintenance rule
// (availability.Excuse): a window created after an outage began does not
// excuse it; Compute flags it on the target and counts the outage as
// unplanned, while a window created before excuses its part.
func TestLateWindowFlaggedNotApplied(t *testing.T) {
	inc := outage(1, "db01", "ping", nil, opened(nov(9, 23, 0)), recovered(nov(10, 1, 0)))
	late := oneOff(5, ledger.ScopeTarget, "db01", nov(9, 22, 0), nov(10, 2, 0))
	late.CreatedAt = nov(10, 9, 0) // added the next morning to cover it
	onTime := oneOff(6, ledger.ScopeTarget, "db01", nov(10, 0, 0), nov(10, 0, 30))
	onTime.CreatedAt = nov(2, 0, 0)
	o := availability.Options{From: novFrom, To: novTo, Location: jst}
	r, err := availability.Compute(availability.Input{Incidents: []availability.Incident{inc},
		Maintenance: []ledger.Maintenance{late, onTime}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Targets) != 1 {
		t.Fatalf("targets %+v", r.Targets)
	}
	got := r.Targets[0]
	if got.Down != 2*time.Hour || got.Planned != 30*time.Minute || got.Unplanned != 90*time.Minute {
		t.Errorf("down %s planned %s unplanned %s, want 2h, 30m (the window made before), 1h30m", got.Down, got.Planned, got.Unplanned)
	}
	if len(got.LateWindows) != 1 || got.LateWindows[0] != 5 {
		t.Errorf("late windows %v, want [5]", got.LateWindows)
	}
	ex := availability.Excuse(availability.Spans(inc, novTo)[0], []ledger.Maintenance{late, onTime}, novFrom, novTo)
	if len(ex.Late) != 1 || len(ex.Used) != 1 || availability.Total(ex.Unplanned) != 90*time.Minute {
		t.Errorf("Excuse: %+v", ex)
	}
}
