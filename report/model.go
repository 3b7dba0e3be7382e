package report

import (
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Metric is one statistic the report shows.
type Metric struct {
	Key    string            `json:"key"`
	Title  string            `json:"title"`
	Name   string            `json:"metric"`           // ledger metric name
	Labels map[string]string `json:"labels,omitempty"` // series selection
	Unit   string            `json:"unit"`             // %, s, bit/s
}

// DefaultMetrics are the report's statistics: CPU, memory, disk used,
// interface traffic, ping RTT and loss, service response times.
var DefaultMetrics = []Metric{
	{Key: "cpu", Title: "CPU", Name: "snmp_cpu_load_avg_percent", Unit: "%"},
	{Key: "memory", Title: "Memory used", Name: "snmp_memory_used_percent", Unit: "%"},
	{Key: "disk", Title: "Disk used", Name: "snmp_storage_used_percent", Labels: map[string]string{"type": "fixed_disk"}, Unit: "%"},
	{Key: "if_in", Title: "Traffic in", Name: "snmp_if_in_bits_per_second", Unit: "bit/s"},
	{Key: "if_out", Title: "Traffic out", Name: "snmp_if_out_bits_per_second", Unit: "bit/s"},
	{Key: "ping_rtt", Title: "Ping RTT", Name: "ping_rtt_avg_seconds", Unit: "s"},
	{Key: "ping_loss", Title: "Ping loss", Name: "ping_loss_percent", Unit: "%"},
	{Key: "service", Title: "Service response", Name: "service_response_time_seconds", Unit: "s"},
}

// Report is everything one monthly report says. Its JSON is the summary
// file; every field is a function of the data window's data.
type Report struct {
	Title string `json:"title"`
	// Month is YYYY-MM; Day the picked day, YYYY-MM-DD.
	Month string `json:"month"`
	Day   string `json:"day"`
	// Window is the data window: [From, To) in TimeZone for availability,
	// incidents and jobs; PerfFrom/PerfTo the UTC days of the rollups.
	Window Window `json:"window"`
	// CSVSHA256 is the SHA-256 of the CSV files (Render: each file's name,
	// a newline, its bytes, in name order).
	CSVSHA256 string            `json:"csv_sha256,omitempty"`
	CSVFiles  map[string]string `json:"csv_files,omitempty"` // name → SHA-256
	// PDF says whether a PDF was printed and, if not, why.
	PDF string `json:"pdf,omitempty"`

	Metrics []Metric `json:"metrics"`
	// Servers: one row per server with each metric's month statistics.
	Servers []ServerStats `json:"servers"`
	// Series: every series (a disk, an interface, a service check).
	Series []SeriesStats `json:"-"` // CSV only (too long for the JSON summary)
	Groups []GroupStats  `json:"groups"`

	Breaches     []Breach    `json:"threshold_breaches"`
	TopServers   []Ranked    `json:"top_servers"`
	TopLinks     []Ranked    `json:"top_links"`
	P95Risers    []Riser     `json:"p95_risers"`
	DiskForecast []DiskTrend `json:"disk_forecast"`

	PickedDay PickedDay `json:"picked_day"`

	Availability Availability `json:"availability"`
	Incidents    Incidents    `json:"incidents"`
	Jobs         Jobs         `json:"jobs"`
	// Drills are the failover drills started in the window, oldest first
	// (drill.InMonth).
	Drills []ledger.DrillRecord `json:"drills"`
	Notes  []string             `json:"notes,omitempty"`
}

// Window is the report's data window.
type Window struct {
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	TimeZone string    `json:"time_zone"`
	PerfFrom time.Time `json:"perf_from"`
	PerfTo   time.Time `json:"perf_to"`
	DayFrom  time.Time `json:"day_from"`
	DayTo    time.Time `json:"day_to"`
}

// Stat is a month (or day) statistic of one series or group.
type Stat struct {
	Avg     float64 `json:"avg"`
	P95     float64 `json:"p95"`
	Max     float64 `json:"max"`
	Samples int64   `json:"samples"`
}

// ServerStats is one server's month, by metric key.
type ServerStats struct {
	Server string          `json:"server"`
	Group  string          `json:"group"`
	Stats  map[string]Stat `json:"stats"`
}

// SeriesStats is one series' month.
type SeriesStats struct {
	Server string `json:"server"`
	Group  string `json:"group"`
	Metric string `json:"metric"` // key
	Labels string `json:"labels"` // k=v,…
	Stat
	PrevP95 float64 `json:"prev_p95"` // NaN: no data last month
}

// GroupStats is one group's (site's) month, by metric key.
type GroupStats struct {
	Group   string                `json:"group"`
	Servers int                   `json:"servers"`
	Stats   map[string]Stat       `json:"stats"`
	Daily   map[string][]DayPoint `json:"daily"` // metric key → day points
}

// DayPoint is one day of a trend.
type DayPoint struct {
	Day string  `json:"day"`
	Avg float64 `json:"avg"`
	Max float64 `json:"max"`
}

// Breach is threshold incidents of one rule on one server in the month.
type Breach struct {
	Server   string        `json:"server"`
	Check    string        `json:"check"`
	Severity string        `json:"severity"`
	Count    int           `json:"count"`
	Duration time.Duration `json:"duration_ns"`
}

// Ranked is a server or link by its month mean.
type Ranked struct {
	Rank   int     `json:"rank"`
	Server string  `json:"server"`
	Link   string  `json:"link,omitempty"`
	Value  float64 `json:"value"` // CPU mean %, or link mean bits/s in+out
	Peak   float64 `json:"peak"`
}

// Riser is a series whose p95 rose against the previous month.
type Riser struct {
	Server string  `json:"server"`
	Metric string  `json:"metric"`
	Labels string  `json:"labels,omitempty"`
	Prev   float64 `json:"prev_p95"`
	Now    float64 `json:"p95"`
	Rise   float64 `json:"rise"`
}

// DiskTrend is a disk's linear trend over the month's daily means.
type DiskTrend struct {
	Server      string  `json:"server"`
	Disk        string  `json:"disk"`
	Used        float64 `json:"used_percent"` // last day's mean
	PerDay      float64 `json:"percent_per_day"`
	DaysToFull  float64 `json:"days_to_full"` // -1: not filling
	FullOnAfter string  `json:"full_on,omitempty"`
}

// PickedDay is the site manager's day at 1-minute resolution.
type PickedDay struct {
	Day string `json:"day"`
	// Peaks: per metric, the series with the highest maximum that day and
	// its 1-minute points.
	Peaks []DayPeak `json:"peaks"`
	// Groups: each group's day statistics (from the 1-day rollups).
	Groups []GroupDay `json:"groups"`
	Note   string     `json:"note,omitempty"`
}

// DayPeak is one metric's busiest series on the picked day.
type DayPeak struct {
	Metric string       `json:"metric"`
	Server string       `json:"server"`
	Labels string       `json:"labels,omitempty"`
	Peak   float64      `json:"peak"`
	PeakAt time.Time    `json:"peak_at"` // start of the minute
	Avg    float64      `json:"avg"`
	Points []MinutePnt  `json:"-"` // HTML chart only
	Others []SeriesLine `json:"-"` // next busiest, same chart
}

// MinutePnt is one minute of the picked day.
type MinutePnt struct {
	T   time.Time
	Avg float64
	Max float64
}

// SeriesLine is one series' minutes.
type SeriesLine struct {
	Name   string
	Points []MinutePnt
}

// GroupDay is one group's picked day.
type GroupDay struct {
	Group string          `json:"group"`
	Stats map[string]Stat `json:"stats"` // P95 not known: 0
}

// Availability is downtime against the budget.
type Availability struct {
	Budget  time.Duration    `json:"budget_ns"`
	Servers []ServerAvail    `json:"servers"`
	Sites   []SiteAvail      `json:"sites"`
	Outages []OutageInterval `json:"outages"`
}

// ServerAvail is one server's month.
type ServerAvail struct {
	Server       string        `json:"server"`
	Site         string        `json:"site"`
	Down         time.Duration `json:"down_ns"`
	Planned      time.Duration `json:"planned_ns"`
	Unplanned    time.Duration `json:"unplanned_ns"`
	BudgetUsed   time.Duration `json:"budget_used_ns"`
	BudgetLeft   time.Duration `json:"budget_left_ns"` // negative: over
	Availability float64       `json:"availability_percent"`
}

// SiteAvail sums a site's servers.
type SiteAvail struct {
	Site       string        `json:"site"`
	Servers    int           `json:"servers"`
	Down       time.Duration `json:"down_ns"`
	Planned    time.Duration `json:"planned_ns"`
	Unplanned  time.Duration `json:"unplanned_ns"`
	OverBudget int           `json:"over_budget"`
	// AnyDown: wall-clock time during which any of its servers was down
	// unplanned.
	AnyDown time.Duration `json:"any_unplanned_ns"`
}

// OutageInterval is one down interval of one outage incident.
type OutageInterval struct {
	Server    string        `json:"server"`
	Incident  int64         `json:"incident"`
	Check     string        `json:"check"`
	From      time.Time     `json:"from"`
	To        time.Time     `json:"to"`
	Down      time.Duration `json:"down_ns"`
	Planned   time.Duration `json:"planned_ns"`
	Unplanned time.Duration `json:"unplanned_ns"`
	OpenedBy  string        `json:"opened_by"` // the timeline entry that began it
	ClosedBy  string        `json:"closed_by"` // the entry that ended it ("still down")
	// Why says what was excluded and why, or why not.
	Why string `json:"why"`
	// LateWindows are windows that cover the outage but were created
	// after it began: flagged, not applied.
	LateWindows []string `json:"late_windows,omitempty"`
}

// Incidents is the month's faults.
type Incidents struct {
	Opened     int            `json:"opened"`
	BySeverity map[string]int `json:"by_severity"`
	BySource   map[string]int `json:"by_source"`
	MTTA       Durations      `json:"mtta"`
	MTTR       Durations      `json:"mttr"`
	// RolesReached: incidents whose escalation notified each role.
	RolesReached map[string]int `json:"roles_reached"`
	LongestOpen  []OpenFault    `json:"longest_open"`
}

// Durations summarise times to acknowledge or resolve.
type Durations struct {
	N      int           `json:"n"`
	Mean   time.Duration `json:"mean_ns"`
	Median time.Duration `json:"median_ns"`
	P90    time.Duration `json:"p90_ns"`
	Max    time.Duration `json:"max_ns"`
}

// OpenFault is an incident still active at the end of the window.
type OpenFault struct {
	ID       int64         `json:"id"`
	Server   string        `json:"server"`
	Check    string        `json:"check"`
	Severity string        `json:"severity"`
	OpenFor  time.Duration `json:"open_for_ns"`
	State    string        `json:"state"`
}

// Jobs is the month's jobnet runs.
type Jobs struct {
	Runs        int       `json:"runs"`
	Succeeded   int       `json:"succeeded"`
	SuccessRate float64   `json:"success_rate_percent"`
	Abnormal    []JobRun  `json:"abnormal_ends"`
	Longest     []JobRun  `json:"longest_runs"`
	Backups     []JobRun  `json:"backups"`
	BackupNote  string    `json:"backup_note,omitempty"`
	ByJobnet    []JobStat `json:"by_jobnet"`
}

// JobRun is one run.
type JobRun struct {
	ID       string        `json:"id"`
	Jobnet   string        `json:"jobnet"`
	Status   string        `json:"status"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// JobStat is one jobnet's month.
type JobStat struct {
	Jobnet    string `json:"jobnet"`
	Runs      int    `json:"runs"`
	Succeeded int    `json:"succeeded"`
	Abnormal  int    `json:"abnormal"`
}
