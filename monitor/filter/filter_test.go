package filter

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
)

func mustLoad(t testing.TB, file string) *Engine {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	e, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func msg(host, app string, level int, text string) *Message {
	return &Message{Host: host, App: app, Facility: 3, Severity: level, Text: text,
		Received: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
}

func TestMatch(t *testing.T) {
	e := mustLoad(t, "testdata/rules50.yaml")
	tests := []struct {
		name     string
		m        *Message
		rule     string
		action   string
		severity incident.Severity
		status   incident.Status
		dedup    string
		message  string
	}{
		{"io error with groups", msg("db01", "kernel", 3, "blk_update_request: I/O error, dev sdb, sector 123456 op 0x0:(READ)"),
			"kernel-io-error", ActionIncident, incident.Major, incident.Problem, "db01/disk/sdb", "db01: I/O error on sdb sector 123456"},
		{"cron ignored even if critical text", msg("web01", "CRON", 2, "No space left on device"),
			"ignore-cron", ActionIgnore, "", "", "", ""},
		{"disk full any app, default dedup template", msg("web01", "nginx", 3, "write() failed (28: No space left on device)"),
			"disk-full", ActionIncident, incident.Major, incident.Problem, "web01/diskfull", "write() failed (28: No space left on device)"},
		{"link up is ok with same key as down", msg("db01", "kernel", 6, "e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex"),
			"kernel-link-up", ActionIncident, incident.Major, incident.OK, "db01/link/eth0", ""},
		{"link down", msg("db01", "kernel", 6, "e1000e: eth0 NIC Link is Down"),
			"kernel-link-down", ActionIncident, incident.Major, incident.Problem, "db01/link/eth0", ""},
		{"record rule", msg("bastion", "sshd", 6, "Failed password for alice from 10.0.0.5 port 5022 ssh2"),
			"sshd-failed", ActionRecord, incident.Info, incident.Problem, "bastion/sshd-failed", ""},
		{"root login fail before the record rule", msg("bastion", "sshd", 6, "Failed password for invalid user root from 10.0.0.5 port 5022 ssh2"),
			"sshd-root-login-fail", ActionIncident, incident.Minor, incident.Problem, "bastion/ssh-root/10.0.0.5", ""},
		{"app glob", msg("mx1", "postfix/smtp", 4, "queue file write error"),
			"postfix-queue", ActionIncident, incident.Major, incident.Problem, "mx1/postfix-queue", ""},
		{"host glob case-insensitive", msg("SW-Core-01", "", 3, "%LINK-3-UPDOWN: Interface Gi1/0/1, changed state to down"),
			"switch-port-flap", ActionIncident, incident.Major, incident.Problem, "SW-Core-01/if/Gi1/0/1", ""},
		{"ignore case regex", msg("bk1", "backup-runner", 3, "BACKUP JOB nightly FAILED"),
			"backup-failed", ActionIncident, incident.Major, incident.Problem, "bk1/backup-failed", ""},
		{"min level catch-all", msg("app7", "myapp", 2, "something critical happened"),
			"any-emerg", ActionIncident, incident.Critical, incident.Problem, "app7/any-emerg", "app7 myapp: something critical happened"},
		{"level too low for catch-all", msg("app7", "myapp", 3, "something happened"),
			"", ActionIgnore, "", "", "", ""},
		{"debug ignored", msg("db01", "kernel", 7, "I/O error, dev sdb, sector 1"),
			"ignore-debug", ActionIgnore, "", "", "", ""},
		{"wrong app", msg("db01", "myapp", 3, "I/O error, dev sdb, sector 1"),
			"", ActionIgnore, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Match(tt.m)
			if d.Rule != tt.rule || d.Action != tt.action {
				t.Fatalf("Match = rule %q action %q, want %q %q", d.Rule, d.Action, tt.rule, tt.action)
			}
			if !d.Emit() {
				return
			}
			ev := d.Event(tt.m, "syslog")
			ev.Normalize(time.Now())
			if err := ev.Validate(); err != nil {
				t.Fatalf("event invalid: %v (%+v)", err, ev)
			}
			if ev.Severity != tt.severity || ev.Status != tt.status || ev.DedupKey != tt.dedup {
				t.Errorf("event severity %q status %q dedup %q, want %q %q %q", ev.Severity, ev.Status, ev.DedupKey, tt.severity, tt.status, tt.dedup)
			}
			if tt.message != "" && ev.Message != tt.message {
				t.Errorf("message %q, want %q", ev.Message, tt.message)
			}
			if ev.Source != "syslog" || ev.Target != tt.m.Host || ev.Check != tt.rule || len(ev.ID) != 36 {
				t.Errorf("event %+v", ev)
			}
			if tt.action == ActionRecord && ev.Labels["record"] != "true" {
				t.Errorf("record label missing: %v", ev.Labels)
			}
		})
	}
}

func TestDefaultRecord(t *testing.T) {
	e, err := New(Config{DefaultAction: ActionRecord}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := msg("h1", "app", 6, "hello")
	d := e.Match(m)
	if d.Action != ActionRecord || d.Rule != "" || d.Index != -1 {
		t.Fatalf("decision %+v", d)
	}
	ev := d.Event(m, "syslog")
	if ev.Severity != incident.Info || ev.Labels["record"] != "true" || ev.Check != "default" || ev.DedupKey != "h1/default" {
		t.Fatalf("event %+v", ev)
	}
}

func TestEventClipsAndSanitizes(t *testing.T) {
	e, err := New(Config{Filters: []Rule{{Name: "all", Severity: "minor", Message: "{{.Text}}{{.Text}}"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := msg(strings.Repeat("h", 300), "a", 3, strings.Repeat("é", 3000)+"\xff")
	ev := e.Match(m).Event(m, "syslog")
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		expr string
		want []lit
	}{
		{`I/O error, dev (?P<dev>[a-z0-9]+), sector (?P<sector>\d+)`, []lit{{s: "I/O error, dev "}}},
		{`(?P<if>(eth|ens)\w*): link is down`, []lit{{s: ": link is down"}}},
		{`(SERVFAIL|zone \S+ expired|loading from master file \S+ failed)`, []lit{{s: "SERVFAIL"}, {s: " expired"}, {s: "loading from master file "}}},
		{`(?i)backup failed`, []lit{{s: "backup failed", fold: true}}},
		{`a*b?`, nil},
		{`x|y*`, nil},
		{`(abc)+`, []lit{{s: "abc"}}},
		{`(abc){0,3}def`, []lit{{s: "def"}}},
		{`.*`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			got := requiredLiterals(tt.expr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("requiredLiterals(%q) = %+v, want %+v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestPrefilterNeverChangesResult checks that the literal prefilter only
// skips regexps that could not have matched: on the benchmark corpus every
// rule's verdict with the prefilter equals the bare regexp's.
func TestPrefilterNeverChangesResult(t *testing.T) {
	e := mustLoad(t, "testdata/rules50.yaml")
	var lines []string
	for _, m := range corpusMessages(t) {
		lines = append(lines, m.Text)
	}
	lines = append(lines, "ſystem backup FAILED", "BACKUP JOB nightly FAILED", "Kelvin K: backup failed")
	for _, r := range e.rules {
		if r.re == nil {
			continue
		}
		for _, l := range lines {
			m := &Message{Text: l}
			want := r.re.MatchString(l)
			got := prefilterPasses(r, m)
			if want && !got {
				t.Errorf("rule %s: prefilter %+v rejects %q which the regexp matches", r.name, r.pre, l)
			}
		}
	}
}

func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{"backup failed", "BACKUP ſ FAILED", "I/O error, dev sda, sector 1"} {
		f.Add(`(?i)backup\s+failed`, s)
		f.Add(`dev (\w+), sector`, s)
	}
	f.Fuzz(func(t *testing.T, expr, text string) {
		re, err := regexp.Compile(expr)
		if err != nil {
			return
		}
		r := &rule{re: re, pre: requiredLiterals(expr)}
		if re.MatchString(text) && !prefilterPasses(r, &Message{Text: text}) {
			t.Fatalf("prefilter %+v rejects %q matched by %q", r.pre, text, expr)
		}
	})
}

func prefilterPasses(r *rule, m *Message) bool {
	if r.pre == nil {
		return true
	}
	for _, l := range r.pre {
		t := m.Text
		if l.fold {
			t = fold(t)
		}
		if strings.Contains(t, l.s) {
			return true
		}
	}
	return false
}

// TestLoadBadConfigs: each testdata/invalid-*.yaml starts with a comment
// "# error: <exact error>" (a \n there stands for a newline).
func TestLoadBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid-*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("first line must be '# error: ...'")
			}
			want = strings.ReplaceAll(want, `\n`, "\n")
			_, err = LoadConfig(data)
			if err == nil || err.Error() != want {
				t.Fatalf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	cfg, err := LoadConfig([]byte("filters: [{name: a, contains: [x], severity: minor}]"))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := New(cfg, m)
	mm := msg("h", "a", 3, "x")
	e.Match(mm).Event(mm, "syslog")
	e.Match(msg("h", "a", 3, "y"))
	if got := testutil.ToFloat64(m.matches.WithLabelValues("a", "incident")); got != 1 {
		t.Errorf("matches = %v", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// corpus returns realistic syslog texts: mostly everyday noise, some faults.
func corpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/corpus.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := s.Text(); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// corpusMessages turns corpus lines "app|level|text" into messages.
func corpusMessages(t testing.TB) []*Message {
	var ms []*Message
	for i, l := range corpus(t) {
		parts := strings.SplitN(l, "|", 3)
		if len(parts) != 3 {
			t.Fatalf("corpus line %d: want app|level|text", i)
		}
		lvl, err := ParseLevel(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, &Message{Host: fmt.Sprintf("srv%02d", i%40), App: parts[0], Severity: lvl, Facility: 3, Text: parts[2]})
	}
	return ms
}

// BenchmarkEngine50Rules runs the 50 rules of testdata/rules50.yaml over
// the corpus. apps=false strips the rules' application filters, as in a
// configuration written as regular expressions over whole lines: then the
// literal prefilter carries the load.
func BenchmarkEngine50Rules(b *testing.B) {
	for _, v := range []struct{ prefilter, apps bool }{{true, true}, {false, true}, {true, false}, {false, false}} {
		b.Run(fmt.Sprintf("apps=%v/prefilter=%v", v.apps, v.prefilter), func(b *testing.B) {
			e := mustLoad(b, "testdata/rules50.yaml")
			for _, r := range e.rules {
				if !v.prefilter {
					r.pre = nil
				}
				if !v.apps && (r.re != nil || r.contains != nil) {
					r.appExact, r.appGlobs = nil, nil
				}
			}
			ms := corpusMessages(b)
			b.ReportAllocs()
			b.ResetTimer()
			emitted := 0
			for i := 0; i < b.N; i++ {
				m := ms[i%len(ms)]
				if d := e.Match(m); d.Emit() {
					emitted++
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
