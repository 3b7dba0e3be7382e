package escalation_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

func tokyo(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// starts returns the From of each occurrence.
func starts(ivs []escalation.Interval) []time.Time {
	var out []time.Time
	for _, iv := range ivs {
		out = append(out, iv.From)
	}
	return out
}

func sameTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d starts, want %d:\n got  %v\n want %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: start %d is %s, want %s", what, i, got[i], want[i])
		}
	}
}

// TestMaintenanceCronWeekdayOfMonth: the day-of-week #N and L extension,
// reckoned in the window's time zone, over the whole of 2026.
func TestMaintenanceCronWeekdayOfMonth(t *testing.T) {
	t.Parallel()
	jst := tokyo(t)
	yearFrom, yearTo := time.Date(2026, 1, 1, 0, 0, 0, 0, jst), time.Date(2027, 1, 1, 0, 0, 0, 0, jst)
	at := func(month time.Month, day, hour int) time.Time {
		return time.Date(2026, month, day, hour, 0, 0, 0, jst)
	}
	for _, c := range []struct {
		name, cron string
		want       []time.Time
	}{
		{
			// 01:00 in Tokyo on the first Sunday is Saturday 16:00 UTC: the
			// weekday and the month are Tokyo's (1 February is a Sunday in
			// Tokyo, 31 January a Saturday in UTC).
			"first Sunday", "0 1 * * SUN#1",
			[]time.Time{at(1, 4, 1), at(2, 1, 1), at(3, 1, 1), at(4, 5, 1), at(5, 3, 1), at(6, 7, 1),
				at(7, 5, 1), at(8, 2, 1), at(9, 6, 1), at(10, 4, 1), at(11, 1, 1), at(12, 6, 1)},
		},
		{"first Sunday by number", "0 1 * * 0#1",
			[]time.Time{at(1, 4, 1), at(2, 1, 1), at(3, 1, 1), at(4, 5, 1), at(5, 3, 1), at(6, 7, 1),
				at(7, 5, 1), at(8, 2, 1), at(9, 6, 1), at(10, 4, 1), at(11, 1, 1), at(12, 6, 1)}},
		{"last Friday", "0 22 * * 5L",
			[]time.Time{at(1, 30, 22), at(2, 27, 22), at(3, 27, 22), at(4, 24, 22), at(5, 29, 22), at(6, 26, 22),
				at(7, 31, 22), at(8, 28, 22), at(9, 25, 22), at(10, 30, 22), at(11, 27, 22), at(12, 25, 22)}},
		{"last Friday by name, lower case", "0 22 * * fril",
			[]time.Time{at(1, 30, 22), at(2, 27, 22), at(3, 27, 22), at(4, 24, 22), at(5, 29, 22), at(6, 26, 22),
				at(7, 31, 22), at(8, 28, 22), at(9, 25, 22), at(10, 30, 22), at(11, 27, 22), at(12, 25, 22)}},
		{"fifth Sunday: only in months that have one", "0 3 * * SUN#5",
			[]time.Time{at(3, 29, 3), at(5, 31, 3), at(8, 30, 3), at(11, 29, 3)}},
		{"second and fourth Saturday of the first quarter", "0 2 * 1-3 SAT#2,SAT#4",
			[]time.Time{at(1, 10, 2), at(1, 24, 2), at(2, 14, 2), at(2, 28, 2), at(3, 14, 2), at(3, 28, 2)}},
		{"every Monday and the last Friday, in February", "0 9 * 2 MON,FRIL",
			[]time.Time{at(2, 2, 9), at(2, 9, 9), at(2, 16, 9), at(2, 23, 9), at(2, 27, 9)}},
		{"the expression's own CRON_TZ wins", "CRON_TZ=Asia/Tokyo 0 1 * 2,3 SUN#1",
			[]time.Time{at(2, 1, 1), at(3, 1, 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tz := "Asia/Tokyo"
			if strings.HasPrefix(c.cron, "CRON_TZ=") {
				tz = "America/New_York" // would give other days if it were used
			}
			m := ledger.Maintenance{Name: "monthly", Scope: ledger.ScopeSite, Match: "tokyo-1", Start: yearFrom.AddDate(-1, 0, 0),
				Cron: c.cron, Duration: 2 * time.Hour, TimeZone: tz, CreatedBy: "x"}
			if err := escalation.CheckMaintenance(m); err != nil {
				t.Fatal(err)
			}
			occ := escalation.Occurrences(m, yearFrom, yearTo)
			sameTimes(t, c.cron, starts(occ), c.want)
			for i, iv := range occ {
				if iv.Duration() != 2*time.Hour {
					t.Errorf("occurrence %d lasts %s", i, iv.Duration())
				}
			}
			for _, s := range c.want {
				for _, tt := range []struct {
					at   time.Time
					on   bool
					till time.Time
				}{
					{s.Add(-time.Second), false, time.Time{}},
					{s, true, s.Add(2 * time.Hour)},
					{s.Add(2*time.Hour - time.Nanosecond), true, s.Add(2 * time.Hour)},
					{s.Add(2 * time.Hour), false, time.Time{}},
				} {
					on, till := escalation.ActiveWindow(m, tt.at)
					if on != tt.on || !till.Equal(tt.till) {
						t.Errorf("ActiveWindow at %s: %v until %s, want %v until %s", tt.at, on, till, tt.on, tt.till)
					}
				}
			}
		})
	}
}

func TestCheckMaintenanceCron(t *testing.T) {
	t.Parallel()
	base := ledger.Maintenance{Name: "w", Scope: ledger.ScopeSite, Match: "s", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Duration: time.Hour, CreatedBy: "x"}
	for _, c := range []struct{ cron, msg string }{
		{"0 1 * * SUN#6", `"SUN#6": want #1 to #5`},
		{"0 1 * * SUN#0", `"SUN#0": want #1 to #5`},
		{"0 1 * * SUN#", `"SUN#": want #1 to #5`},
		{"0 1 * * SUN#01", `"SUN#01": want #1 to #5`},
		{"0 1 * * XYZ#1", `"XYZ" is not a weekday`},
		{"0 1 * * 7#1", `"7" is not a weekday`},
		{"0 1 * * L", `name the weekday before L`},
		{"0 1 * * 8L", `"8" is not a weekday (0-6 or SUN-SAT) before L`},
		{"0 1 * * 1-5L", `"1-5" is not a weekday`},
		{"0 1 1 * SUN#1", `day-of-month "1": must be *`},
		{"0 1 1-7 * SUN#1", `day-of-month "1-7": must be *`},
		{"0 25 * * SUN#1", "above maximum"},
		{"TZ=UTC", "want the time zone, a space and then the fields"},
		{"CRON_TZ=Nowhere/City 0 1 * * SUN#1", "Nowhere/City"},
		{"every day", "expected exactly 5 fields"},
		{"0 1 * *", "expected exactly 5 fields"},
		{"@every 1h", "@every has no fixed starts"},
	} {
		t.Run(c.cron, func(t *testing.T) {
			m := base
			m.Cron = c.cron
			err := escalation.CheckMaintenance(m)
			var fe *incident.FieldError
			if !errors.As(err, &fe) || fe.Field != "cron" {
				t.Fatalf("got %v, want an error on field cron", err)
			}
			if !strings.Contains(fe.Msg, c.msg) || !strings.Contains(fe.Msg, `"SUN#1"`) {
				t.Errorf("message %q lacks %q or the syntax hint", fe.Msg, c.msg)
			}
		})
	}
	for _, cron := range []string{"0 1 * * 0#1", "0 1 * * SUN#5", "0 22 * * FRIL", "0 22 * * 5l", "0 1 ? * SUN#1",
		"0 1 */1 * MON#2", "0 2 * * SAT#2,SAT#4", "30 3 * * MON-FRI", "@monthly", "CRON_TZ=Asia/Tokyo 0 1 * * SUN#1"} {
		m := base
		m.Cron = cron
		if err := escalation.CheckMaintenance(m); err != nil {
			t.Errorf("%q: %v", cron, err)
		}
	}
}

func TestOccurrences(t *testing.T) {
	t.Parallel()
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	from, to := day(1, 0), day(8, 0)
	for _, c := range []struct {
		name string
		m    ledger.Maintenance
		want []escalation.Interval
	}{
		{"one-off inside", ledger.Maintenance{Start: day(2, 1), End: ptr(day(2, 5))},
			[]escalation.Interval{{From: day(2, 1), To: day(2, 5)}}},
		{"one-off straddling the start is clipped", ledger.Maintenance{Start: day(1, 0).Add(-3 * time.Hour), End: ptr(day(1, 2))},
			[]escalation.Interval{{From: day(1, 0), To: day(1, 2)}}},
		{"one-off straddling the end is clipped", ledger.Maintenance{Start: day(7, 22), End: ptr(day(8, 4))},
			[]escalation.Interval{{From: day(7, 22), To: day(8, 0)}}},
		{"one-off outside", ledger.Maintenance{Start: day(9, 0), End: ptr(day(9, 4))}, nil},
		{"one-off ended early", ledger.Maintenance{Start: day(2, 1), End: ptr(day(2, 5)), EndedAt: ptr(day(2, 3))},
			[]escalation.Interval{{From: day(2, 1), To: day(2, 3)}}},
		{"one-off ended before it began", ledger.Maintenance{Start: day(2, 1), End: ptr(day(2, 5)), EndedAt: ptr(day(1, 3))}, nil},
		{"daily, the one begun before the period counts from its start", ledger.Maintenance{Start: day(1, 0).AddDate(0, 0, -10),
			Cron: "0 22 * * *", Duration: 4 * time.Hour},
			[]escalation.Interval{{From: day(1, 0), To: day(1, 2)}, {From: day(1, 22), To: day(2, 2)}, {From: day(2, 22), To: day(3, 2)},
				{From: day(3, 22), To: day(4, 2)}, {From: day(4, 22), To: day(5, 2)}, {From: day(5, 22), To: day(6, 2)},
				{From: day(6, 22), To: day(7, 2)}, {From: day(7, 22), To: day(8, 0)}}},
		{"daily from Start to End, ended on the 4th", ledger.Maintenance{Start: day(2, 12), End: ptr(day(6, 0)),
			EndedAt: ptr(day(4, 23)), Cron: "0 22 * * *", Duration: 4 * time.Hour},
			[]escalation.Interval{{From: day(2, 22), To: day(3, 2)}, {From: day(3, 22), To: day(4, 2)}, {From: day(4, 22), To: day(4, 23)}}},
		{"no start before Start even when it would overlap it", ledger.Maintenance{Start: day(3, 1),
			Cron: "0 0 * * *", Duration: 6 * time.Hour},
			[]escalation.Interval{{From: day(4, 0), To: day(4, 6)}, {From: day(5, 0), To: day(5, 6)},
				{From: day(6, 0), To: day(6, 6)}, {From: day(7, 0), To: day(7, 6)}}},
		{"overlapping occurrences are not merged", ledger.Maintenance{Start: day(2, 0), End: ptr(day(2, 13)),
			Cron: "0 */6 * * *", Duration: 8 * time.Hour},
			[]escalation.Interval{{From: day(2, 0), To: day(2, 8)}, {From: day(2, 6), To: day(2, 14)}, {From: day(2, 12), To: day(2, 20)}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := escalation.Occurrences(c.m, from, to)
			if len(got) != len(c.want) {
				t.Fatalf("%d occurrences, want %d: %v", len(got), len(c.want), got)
			}
			for i := range got {
				if !got[i].From.Equal(c.want[i].From) || !got[i].To.Equal(c.want[i].To) {
					t.Errorf("occurrence %d: %s → %s, want %s → %s", i, got[i].From, got[i].To, c.want[i].From, c.want[i].To)
				}
			}
		})
	}
}

// TestActiveWindowOverlapBeforeStart: a start before the window's Start
// whose occurrence would still run must not hide a later one that is in
// force.
func TestActiveWindowOverlapBeforeStart(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 2, 7, 0, 0, 0, time.UTC)
	m := ledger.Maintenance{Name: "w", Scope: ledger.ScopeTarget, Match: "x", Start: start, Cron: "0 */6 * * *",
		Duration: 8 * time.Hour, CreatedBy: "x"}
	// Starts before Start: 06:00 (would run to 14:00). First real start: 12:00.
	on, till := escalation.ActiveWindow(m, start.Add(6*time.Hour)) // 13:00
	if want := start.Add(13 * time.Hour); !on || !till.Equal(want) {
		t.Errorf("at 13:00: %v until %s, want in force until %s", on, till, want)
	}
	if on, _ := escalation.ActiveWindow(m, start.Add(time.Hour)); on {
		t.Error("in force at 08:00, before its first start at 12:00")
	}
}

// FuzzMaintenanceCron: CheckMaintenance never panics on any expression,
// and for one it accepts ActiveWindow agrees with Occurrences: in force at
// t exactly when an occurrence contains t, until the end of the earliest
// such occurrence.
func FuzzMaintenanceCron(f *testing.F) {
	for _, s := range []string{"0 1 * * SUN#1", "0 1 * * 0#1", "0 22 * * 5L", "0 22 * * FRIL", "0 2 * * SAT#2,SAT#4",
		"0 9 * 2 MON,FRIL", "*/30 * * * *", "0 1 1 * *", "@monthly", "@every 90m", "CRON_TZ=Asia/Tokyo 0 1 * * SUN#1",
		"TZ=UTC", "0 1 * * L", "0 1 * * #", "0 1 * * SUN#9", "* * * * *", ""} {
		f.Add(s, uint16(120), uint32(86400*3+3600))
	}
	base := time.Date(2026, 1, 25, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string, durMin uint16, offset uint32) {
		m := ledger.Maintenance{Name: "w", Scope: ledger.ScopeSite, Match: "s", Start: base, Cron: expr,
			Duration: time.Duration(durMin%(48*60)+1) * time.Minute, TimeZone: "Asia/Tokyo", CreatedBy: "x"}
		if escalation.CheckMaintenance(m) != nil {
			return
		}
		at := base.Add(time.Duration(offset%(86400*62)) * time.Second)
		span := m.Duration + time.Hour
		occ := escalation.Occurrences(m, at.Add(-span), at.Add(span))
		var (
			in   bool
			till time.Time
		)
		for _, iv := range occ {
			if !iv.From.After(at) && at.Before(iv.To) && (!in || iv.To.Before(till)) {
				in, till = true, iv.To
			}
		}
		on, until := escalation.ActiveWindow(m, at)
		if on != in || !until.Equal(till) {
			t.Fatalf("%q for %s at %s: ActiveWindow %v until %s, Occurrences %v until %s (%v)", expr, m.Duration, at, on, until, in, till, occ)
		}
	})
}
