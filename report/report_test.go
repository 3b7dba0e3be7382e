package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/report"
)

var (
	oct   = time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	sep   = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	day15 = time.Date(2026, 10, 15, 0, 0, 0, 0, time.UTC)
	spike = day15.Add(13*time.Hour + 37*time.Minute) // s07's CPU peak
)

func at(d, h, m int) time.Time { return time.Date(2026, 10, d, h, m, 0, 0, time.UTC) }

// cpu is server i's CPU at hour h of a month (i in 1..12): a ramp of 20
// steps scaled by i, so the mean grows with i and every p95 is known.
func cpu(i, h int) float64 { return float64(i) * float64(1+h%20) / 4 }

// fixture is a month (October 2026, UTC) of twelve servers s01..s12 in
// sites tokyo (s01–s06) and osaka (s07–s12), with hourly CPU, 12-hourly memory,
// disk, traffic and ping samples, the picked day (the 15th) at one-minute
// resolution for s07, September's CPU (s05 was idle then), outages,
// maintenance windows, incidents and job runs with known answers.
type fixture struct {
	store   *sqlite.Store
	targets []availability.KnownTarget
	cpuVals map[string][]float64 // October hourly CPU by server
}

func name(i int) string { return fmt.Sprintf("s%02d", i) }

// shared is the fixture's ledger, written once per test binary (writing
// it is most of the package's test time under the race detector) and
// copied for each test that opens it.
var shared struct {
	once    sync.Once
	dir     string // removed by TestMain
	ok      bool
	targets []availability.KnownTarget
	cpuVals map[string][]float64
	clock   time.Time // the store's clock when the fixture was written
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// newFixture opens a copy of the fixture's ledger (written by the first
// caller) in t's temporary directory: a test may add to it.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "unyo-report-test-")
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
		f := writeFixture(t, filepath.Join(dir, "ledger.db"))
		shared.targets, shared.cpuVals, shared.ok = f.targets, f.cpuVals, true
	})
	if !shared.ok {
		t.Fatal("writing the shared fixture failed (see the first test that used it)")
	}
	dst := t.TempDir()
	ents, err := os.ReadDir(shared.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents { // ledger.db and, if the close left them, -wal and -shm
		b, err := os.ReadFile(filepath.Join(shared.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := sqlite.Open(context.Background(), filepath.Join(dst, "ledger.db"), sqlite.WithClock(func() time.Time { return shared.clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &fixture{store: s, targets: shared.targets, cpuVals: shared.cpuVals}
}

// writeFixture writes the fixture's ledger at path and closes it.
func writeFixture(t testing.TB, path string) *fixture {
	t.Helper()
	ctx := context.Background()
	clock := oct
	s, err := sqlite.Open(ctx, path, sqlite.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &fixture{store: s, cpuVals: map[string][]float64{}}
	site := func(i int) string {
		if i <= 6 {
			return "tokyo"
		}
		return "osaka"
	}
	var xs []ledger.Sample
	flush := func() {
		if err := s.AddSamples(ctx, xs); err != nil {
			t.Fatal(err)
		}
		xs = xs[:0]
	}
	for i := 1; i <= 12; i++ {
		n := name(i)
		f.targets = append(f.targets, availability.KnownTarget{Name: n, Labels: map[string]string{"site": site(i)}})
		for h := range 31 * 24 {
			tm := oct.Add(time.Duration(h) * time.Hour)
			if tm.Truncate(24*time.Hour).Equal(day15) && i == 7 {
				continue // s07's picked day is written by the minute below
			}
			v := cpu(i, h)
			f.cpuVals[n] = append(f.cpuVals[n], v)
			xs = append(xs, ledger.Sample{Target: n, Name: "snmp_cpu_load_avg_percent", Value: v, Time: tm})
			// September: the same CPU every 3 hours (3 and 20 are coprime:
			// every step of the ramp), but s05 was idle (1%).
			if sv := cpu(i, h); h < 30*24 && h%3 == 0 {
				if i == 5 {
					sv = 1
				}
				xs = append(xs, ledger.Sample{Target: n, Name: "snmp_cpu_load_avg_percent", Value: sv, Time: sep.Add(time.Duration(h) * time.Hour)})
			}
			// The other metrics are flat within a day: every 12 hours gives
			// the same daily means and monthly statistics at a twelfth of
			// the writes (writing samples is most of the test's time).
			if h%12 != 0 {
				continue
			}
			xs = append(xs,
				ledger.Sample{Target: n, Name: "snmp_memory_used_percent", Value: 40 + float64(i), Time: tm},
				ledger.Sample{Target: n, Name: "ping_rtt_avg_seconds", Value: 0.001 * float64(i), Time: tm},
				ledger.Sample{Target: n, Name: "ping_loss_percent", Value: 0, Time: tm},
				ledger.Sample{Target: n, Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "eth0"}, Value: 1e6 * float64(i), Time: tm},
				ledger.Sample{Target: n, Name: "snmp_if_out_bits_per_second", Labels: map[string]string{"if": "eth0"}, Value: 5e5 * float64(i), Time: tm},
			)
			// s01's disk fills by one point a day from 50%; the others stay.
			used := 30.0
			if i == 1 {
				used = 50 + float64(h/24)
			}
			xs = append(xs, ledger.Sample{Target: n, Name: "snmp_storage_used_percent", Labels: map[string]string{"descr": "/", "type": "fixed_disk"}, Value: used, Time: tm})
		}
		flush()
	}
	// s02's second link is the busiest: 3 Gbit/s in, 1 Gbit/s out.
	for h := 0; h < 31*24; h += 12 {
		tm := oct.Add(time.Duration(h) * time.Hour)
		xs = append(xs, ledger.Sample{Target: "s02", Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "eth1"}, Value: 3e9, Time: tm},
			ledger.Sample{Target: "s02", Name: "snmp_if_out_bits_per_second", Labels: map[string]string{"if": "eth1"}, Value: 1e9, Time: tm})
	}
	flush()
	// s07 on the 15th by the minute: 20%, and 99.5% at 13:37.
	for m := range 1440 {
		v := 20.0
		tm := day15.Add(time.Duration(m) * time.Minute)
		if tm.Equal(spike) {
			v = 99.5
		}
		xs = append(xs, ledger.Sample{Target: "s07", Name: "snmp_cpu_load_avg_percent", Value: v, Time: tm})
		f.cpuVals["s07"] = append(f.cpuVals["s07"], v)
	}
	flush()

	// Incidents. n numbers event ids.
	n := 0
	send := func(target, source, check string, sev incident.Severity, st incident.Status, when time.Time) {
		t.Helper()
		n++
		clock = when
		ev := incident.Event{ID: "ev" + strconv.Itoa(n), Source: source, Target: target, Check: check, Severity: sev,
			Status: st, Time: when, Message: check + " " + string(st), Labels: map[string]string{"site": site(map[string]int{"s01": 1, "s03": 3, "s08": 8, "s11": 11, "s12": 12}[target])}}
		ev.Normalize(when)
		if _, err := s.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	act := func(id int64, kind incident.Kind, when time.Time) {
		t.Helper()
		clock = when
		if _, _, err := s.Transition(ctx, id, incident.Action{Kind: kind, By: "op1", At: when}); err != nil {
			t.Fatalf("incident %d %s: %v", id, kind, err)
		}
	}
	// 1: s01 ping down 10:00–12:00 on the 3rd; a window (made in
	// September) covers 11:00–14:00: 60 min planned, 60 unplanned.
	send("s01", "ping", "ping", incident.Critical, incident.Problem, at(3, 10, 0))
	act(1, incident.KindAcknowledged, at(3, 10, 5))
	send("s01", "ping", "ping", incident.Critical, incident.OK, at(3, 12, 0))
	act(1, incident.KindResolved, at(3, 12, 10))
	// 2: s08 ping down 00:00–03:00 on the 10th; a window covering it all is
	// added on the 11th: flagged, not applied: 180 min unplanned.
	send("s08", "ping", "ping", incident.Critical, incident.Problem, at(10, 0, 0))
	act(2, incident.KindAcknowledged, at(10, 0, 10))
	send("s08", "ping", "ping", incident.Critical, incident.OK, at(10, 3, 0))
	act(2, incident.KindResolved, at(10, 3, 5))
	// 3: s03's web service down 08:00–08:30 on the 20th.
	send("s03", "http", "http:web", incident.Warning, incident.Problem, at(20, 8, 0))
	act(3, incident.KindAcknowledged, at(20, 8, 1))
	send("s03", "http", "http:web", incident.Warning, incident.OK, at(20, 8, 30))
	act(3, incident.KindResolved, at(20, 8, 40))
	// 4: s12's CPU threshold, 09:00 on the 5th, acked after 20 min,
	// resolved after 60.
	send("s12", "threshold", "threshold:cpu-high", incident.Warning, incident.Problem, at(5, 9, 0))
	act(4, incident.KindAcknowledged, at(5, 9, 20))
	act(4, incident.KindResolved, at(5, 10, 0))
	// 5: s11's threshold on the 6th, still open at the end of the month.
	send("s11", "threshold", "threshold:disk-full", incident.Critical, incident.Problem, at(6, 0, 0))

	end1, end2 := at(3, 14, 0), at(10, 4, 0)
	clock = time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC) // the store stamps CreatedAt
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "rack work", Scope: ledger.ScopeSite, Match: "tokyo",
		Start: at(3, 11, 0), End: &end1, CreatedBy: "se1", CreatedAt: time.Date(2026, 9, 30, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	clock = at(11, 9, 0)
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "after the fact", Scope: ledger.ScopeTarget, Match: "s08",
		Start: at(9, 23, 0), End: &end2, CreatedBy: "se1", CreatedAt: at(11, 9, 0)}); err != nil {
		t.Fatal(err)
	}

	// Jobs: nightly ran 10 times (the 4th ended abnormally), weekly once
	// for 3 hours; a September run is not counted.
	for d := 1; d <= 10; d++ {
		st := "ended-normal"
		if d == 4 {
			st = "ended-abnormal"
		}
		if err := s.RecordRun(ctx, ledger.RunRecord{ID: fmt.Sprintf("nightly-%02d", d), Jobnet: "nightly", Scheduled: at(d, 2, 0),
			Trigger: "schedule", Status: st, Created: at(d, 2, 0), Ended: at(d, 2, 10+d)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []ledger.RunRecord{
		{ID: "weekly-1", Jobnet: "weekly", Scheduled: at(7, 1, 0), Trigger: "schedule", Status: "ended-normal", Created: at(7, 1, 0), Ended: at(7, 4, 0)},
		{ID: "old", Jobnet: "weekly", Scheduled: sep, Trigger: "schedule", Status: "ended-abnormal", Created: sep, Ended: sep.Add(time.Hour)},
	} {
		if err := s.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	// Escalations. Incidents whose escalation sent a step's notification
	// to a role: operator 3 (incidents 1, 2 and 4; incident 4's two
	// channels count once), site-manager 1 (incident 1's step 2). Not
	// counted: incident 2's step 2 to site-manager failed, incident 3's
	// notice (level 0) and pending step, incident 5's step sent after the
	// month.
	type notif struct {
		inc   int64
		role  string
		level int
		at    time.Time
		fail  bool // given up; the zero time leaves it pending
	}
	es := ledger.EscalationStore(s)
	for k, x := range []notif{
		{1, "operator", 1, at(3, 10, 1), false},
		{1, "site-manager", 2, at(3, 10, 31), false},
		{2, "operator", 1, at(10, 0, 1), false},
		{2, "site-manager", 2, at(10, 0, 31), true},
		{3, "operator", 0, at(20, 8, 1), false},
		{3, "operator", 1, time.Time{}, false},
		{4, "operator", 1, at(5, 9, 1), false},
		{4, "operator", 1, at(5, 9, 2), false},
		{5, "site-manager", 1, time.Date(2026, 11, 1, 0, 1, 0, 0, time.UTC), false},
	} {
		notBefore := x.at
		if x.at.IsZero() {
			notBefore = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		clock = notBefore
		e, err := es.Escalation(ctx, x.inc)
		if err != nil {
			if e, _, err = es.StartEscalation(ctx, ledger.Escalation{IncidentID: x.inc, Policy: "page", Snapshot: []byte(`{}`), State: ledger.EscActive}); err != nil {
				t.Fatal(err)
			}
		}
		key := fmt.Sprintf("n%d", k)
		if _, err := es.UpdateEscalation(ctx, e, []ledger.Notification{{Key: key, IncidentID: x.inc, GroupKey: key, Kind: "problem",
			Channel: "mail", Destination: x.role + "@example.com", Role: x.role, Level: x.level, NotBefore: notBefore}}, nil); err != nil {
			t.Fatal(err)
		}
		if x.at.IsZero() {
			continue
		}
		got, err := es.ClaimNotifications(ctx, ledger.Claim{Now: x.at, Owner: "n1", Fence: 1, Takeover: true, Lease: time.Minute})
		if err != nil || len(got) != 1 || got[0].Key != key {
			t.Fatalf("claim %s: %+v, %v", key, got, err)
		}
		a := ledger.Attempt{At: x.at, By: "escalation"}
		if x.fail {
			a.Err = "550 no such mailbox"
		}
		if err := es.FinishNotifications(ctx, []string{key}, "n1", a); err != nil {
			t.Fatal(err)
		}
	}
	shared.clock = clock
	return f
}

func (f *fixture) build(t testing.TB, day time.Time) (*report.Report, report.Files) {
	t.Helper()
	r, err := report.Build(context.Background(), f.store, report.Options{Month: oct, Day: day, Targets: f.targets,
		Now: time.Date(2026, 11, 1, 0, 5, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	files, err := report.Render(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, files
}

func nearestRank(xs []float64, q float64) float64 {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return ys[int(math.Ceil(q*float64(len(ys))))-1]
}

func readCSV(t *testing.T, files report.Files, name string) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(files[name])).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return rows
}

func near(got, want, rel float64) bool { return math.Abs(got-want) <= rel*math.Abs(want)+1e-12 }

func TestMonthlyReportKnownAnswers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, files := f.build(t, day15)

	// The JSON summary is the report.
	var js map[string]any
	if err := json.Unmarshal(files[report.JSONFile], &js); err != nil {
		t.Fatalf("summary.json: %v", err)
	}
	if js["month"] != "2026-10" || js["day"] != "2026-10-15" || js["csv_sha256"] != r.CSVSHA256 || len(r.CSVSHA256) != 64 {
		t.Fatalf("summary: month %v day %v sha %v", js["month"], js["day"], js["csv_sha256"])
	}

	t.Run("StatisticsAndP95", func(t *testing.T) {
		rows := readCSV(t, files, "servers.csv")
		hdr := rows[0]
		col := func(name string) int { return slices.Index(hdr, name) }
		got := map[string][]string{}
		for _, row := range rows[1:] {
			got[row[0]] = row
		}
		if len(got) != 12 {
			t.Fatalf("%d servers in servers.csv, want 12", len(got))
		}
		for _, n := range []string{"s03", "s07", "s12"} {
			vals := f.cpuVals[n]
			var sum, mx float64
			for _, v := range vals {
				sum += v
				mx = max(mx, v)
			}
			avg, _ := strconv.ParseFloat(got[n][col("cpu_avg")], 64)
			p95, _ := strconv.ParseFloat(got[n][col("cpu_p95")], 64)
			gmax, _ := strconv.ParseFloat(got[n][col("cpu_max")], 64)
			if !near(avg, sum/float64(len(vals)), 1e-9) || gmax != mx {
				t.Errorf("%s cpu avg %v max %v, want %v %v", n, avg, gmax, sum/float64(len(vals)), mx)
			}
			if want := nearestRank(vals, 0.95); !near(p95, want, ledger.SketchRelativeError) {
				t.Errorf("%s cpu p95 %v, want %v within %v", n, p95, want, ledger.SketchRelativeError)
			}
		}
		if g := r.Groups; len(g) != 2 || g[0].Group != "osaka" || g[1].Group != "tokyo" || g[1].Servers != 6 || len(g[1].Daily["cpu"]) != 31 {
			t.Errorf("groups %+v", g)
		}
	})

	t.Run("Top10AndRisers", func(t *testing.T) {
		rows := readCSV(t, files, "top_servers.csv")
		var order []string
		for _, row := range rows[1:] {
			order = append(order, row[1])
		}
		if strings.Join(order, ",") != "s12,s11,s10,s09,s08,s06,s05,s04,s07,s03" &&
			strings.Join(order, ",") != "s12,s11,s10,s09,s08,s07,s06,s05,s04,s03" {
			t.Errorf("top 10 %v", order)
		}
		if len(order) != 10 || order[0] != "s12" || slices.Contains(order, "s01") || slices.Contains(order, "s02") {
			t.Errorf("top 10 %v: want 10, s12 first, without s01 and s02", order)
		}
		links := readCSV(t, files, "top_links.csv")
		if links[1][1] != "s02" || links[1][2] != "if=eth1" || links[1][3] != "4000000000" {
			t.Errorf("top link %v, want s02 if=eth1 4e9", links[1])
		}
		if len(r.P95Risers) == 0 || r.P95Risers[0].Server != "s05" || r.P95Risers[0].Metric != "cpu" || !near(r.P95Risers[0].Prev, 1, ledger.SketchRelativeError) {
			t.Errorf("risers %+v, want s05 cpu from 1%%", r.P95Risers)
		}
	})

	t.Run("DiskForecast", func(t *testing.T) {
		d := r.DiskForecast[0]
		if d.Server != "s01" || !near(d.PerDay, 1, 1e-9) || !near(d.DaysToFull, 20, 1e-9) || d.FullOnAfter != "2026-11-20" {
			t.Errorf("disk forecast %+v, want s01 +1%%/day, 20 days, 2026-11-20", d)
		}
		if r.DiskForecast[1].DaysToFull != -1 {
			t.Errorf("a flat disk: %+v", r.DiskForecast[1])
		}
	})

	t.Run("PickedDayPeak", func(t *testing.T) {
		rows := readCSV(t, files, "picked_day.csv")
		var cpuRow []string
		for _, row := range rows[1:] {
			if row[1] == "cpu" {
				cpuRow = row
			}
		}
		if cpuRow == nil || cpuRow[0] != "2026-10-15" || cpuRow[2] != "s07" || cpuRow[4] != "99.5" || cpuRow[5] != spike.Format(time.RFC3339) {
			t.Errorf("picked day cpu %v, want s07 99.5 at %s", cpuRow, spike.Format(time.RFC3339))
		}
		for _, p := range r.PickedDay.Peaks {
			if p.Metric == "cpu" && len(p.Points) != 1440 {
				t.Errorf("s07's day: %d minutes, want 1440", len(p.Points))
			}
		}
	})

	t.Run("Availability", func(t *testing.T) {
		av := map[string][]string{}
		for _, row := range readCSV(t, files, "availability_servers.csv")[1:] {
			av[row[0]] = row
		}
		// server, site, down, planned, unplanned, used, left, availability
		for _, c := range []struct{ server, down, planned, unplanned, left string }{
			{"s01", "120.00", "60.00", "60.00", "60.00"},  // half the outage in a window made before it
			{"s08", "180.00", "0.00", "180.00", "-60.00"}, // the window added after it is not applied
			{"s03", "30.00", "0.00", "30.00", "90.00"},    // a service outage
			{"s12", "0.00", "0.00", "0.00", "120.00"},     // a threshold is no outage
		} {
			row := av[c.server]
			if row == nil || row[2] != c.down || row[3] != c.planned || row[4] != c.unplanned || row[6] != c.left {
				t.Errorf("%s: %v, want down %s planned %s unplanned %s left %s", c.server, row, c.down, c.planned, c.unplanned, c.left)
			}
		}
		outs := readCSV(t, files, "outages.csv")
		var s08 []string
		for _, row := range outs[1:] {
			if row[0] == "s08" {
				s08 = row
			}
		}
		if s08 == nil || !strings.Contains(s08[10], "FLAGGED") || !strings.Contains(s08[11], "after the fact") || !strings.Contains(s08[8], "opened") || !strings.Contains(s08[9], "recovered") {
			t.Errorf("s08's outage %v: want flagged with the late window and its opening and closing entries", s08)
		}
		sites := readCSV(t, files, "availability_sites.csv")
		if sites[1][0] != "osaka" || sites[1][4] != "180.00" || sites[1][6] != "1" || sites[2][0] != "tokyo" || sites[2][4] != "90.00" {
			t.Errorf("sites %v", sites)
		}
	})

	t.Run("IncidentsMTTAMTTR", func(t *testing.T) {
		in := r.Incidents
		if in.Opened != 5 || in.BySeverity["critical"] != 3 || in.BySeverity["warning"] != 2 || in.BySource["ping"] != 2 || in.BySource["threshold"] != 2 {
			t.Errorf("counts %+v", in)
		}
		// acknowledged after 5, 10, 1, 20 min; resolved after 130, 185, 40, 60.
		if a := in.MTTA; a.N != 4 || a.Mean != 9*time.Minute || a.Median != 5*time.Minute || a.P90 != 20*time.Minute {
			t.Errorf("MTTA %+v", a)
		}
		if m := in.MTTR; m.N != 4 || m.Mean != 103*time.Minute+45*time.Second || m.Median != 60*time.Minute || m.P90 != 185*time.Minute || m.Max != 185*time.Minute {
			t.Errorf("MTTR %+v", m)
		}
		if len(in.RolesReached) != 2 || in.RolesReached["operator"] != 3 || in.RolesReached["site-manager"] != 1 {
			t.Errorf("escalations reached roles %v, want operator 3, site-manager 1", in.RolesReached)
		}
		var roleRows []string
		for _, row := range readCSV(t, files, "incidents.csv")[1:] {
			if row[0] == "role_reached" {
				roleRows = append(roleRows, strings.Join(row, "="))
			}
		}
		if strings.Join(roleRows, " ") != "role_reached=operator=3 role_reached=site-manager=1" {
			t.Errorf("incidents.csv roles reached %v", roleRows)
		}
		if html := files[report.HTMLFile]; !bytes.Contains(html, []byte(`<td>operator</td><td class="n">3</td>`)) ||
			!bytes.Contains(html, []byte(`<td>site-manager</td><td class="n">1</td>`)) {
			t.Error("the HTML's escalation table lacks operator 3 and site-manager 1")
		}
		if len(in.LongestOpen) != 1 || in.LongestOpen[0].Server != "s11" {
			t.Errorf("open %+v", in.LongestOpen)
		}
		if len(r.Breaches) != 2 || r.Breaches[0].Server != "s11" || r.Breaches[1].Check != "threshold:cpu-high" || r.Breaches[1].Duration != time.Hour {
			t.Errorf("breaches %+v", r.Breaches)
		}
	})

	t.Run("Jobs", func(t *testing.T) {
		j := r.Jobs
		if j.Runs != 11 || j.Succeeded != 10 || len(j.Abnormal) != 1 || j.Abnormal[0].ID != "nightly-04" || j.Longest[0].ID != "weekly-1" ||
			j.Longest[0].Duration != 3*time.Hour || len(j.Backups) != 0 || j.BackupNote == "" {
			t.Errorf("jobs %+v", j)
		}
	})

	t.Run("Reproducible", func(t *testing.T) {
		_, again := f.build(t, day15)
		for _, n := range files.Names() {
			if !bytes.Equal(files[n], again[n]) {
				t.Errorf("%s differs between two renders of the same data", n)
			}
		}
		if !bytes.Contains(files[report.HTMLFile], []byte(r.CSVSHA256)) {
			t.Error("the HTML does not carry the CSV checksum")
		}
	})

	t.Run("DefaultDayIsTheBusiest", func(t *testing.T) {
		r2, _ := f.build(t, time.Time{})
		if r2.Day != "2026-10-15" {
			t.Errorf("default day %s, want 2026-10-15 (s07's 99.5%%)", r2.Day)
		}
	})
}
