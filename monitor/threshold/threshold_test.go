package threshold

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

func f(v float64) *float64 { return &v }

func TestEngineTransitions(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		v    float64
		want string // "" no event, else "problem/warning", "problem/critical", "ok/info"
	}
	tests := []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{
			name: "fires after K samples and clears below clear level",
			rule: Rule{Metric: "m", Warning: f(80), Critical: f(90), Clear: f(75), For: 3},
			steps: []step{
				{85, ""}, {86, ""}, {87, "problem/warning"},
				{88, ""}, {79, ""}, // hysteresis band: still warning
				{74, "ok/info"}, {74, ""},
			},
		},
		{
			name:  "a dip resets the count",
			rule:  Rule{Metric: "m", Warning: f(80), For: 3},
			steps: []step{{85, ""}, {85, ""}, {50, ""}, {85, ""}, {85, ""}, {85, "problem/warning"}},
		},
		{
			name: "escalates to critical and back down to warning",
			rule: Rule{Metric: "m", Warning: f(80), Critical: f(90), Clear: f(70), For: 2},
			steps: []step{
				{95, ""}, {95, "problem/critical"}, {85, ""}, {85, "problem/warning"},
				{75, ""}, {75, ""}, {60, "ok/info"},
			},
		},
		{
			name:  "below direction",
			rule:  Rule{Metric: "free", Warning: f(20), Critical: f(10), Clear: f(30), Direction: Below},
			steps: []step{{50, ""}, {15, "problem/warning"}, {5, "problem/critical"}, {25, "problem/warning"}, {31, "ok/info"}},
		},
		{
			name:  "clear_for holds the ok",
			rule:  Rule{Metric: "m", Critical: f(90), ClearFor: 2},
			steps: []step{{91, "problem/critical"}, {10, ""}, {95, ""}, {10, ""}, {10, "ok/info"}},
		},
		{
			name:  "critical only stays critical in the band",
			rule:  Rule{Metric: "m", Critical: f(90), Clear: f(50)},
			steps: []step{{91, "problem/critical"}, {60, ""}, {49, "ok/info"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			rules := []Rule{r}
			if err := ValidateRules("thresholds", rules); err != nil {
				t.Fatal(err)
			}
			e := New(rules)
			for i, s := range tc.steps {
				evs := e.Observe(Input{Target: "db01", Metric: rules[0].Metric, Labels: map[string]string{"descr": "/"}, Value: s.v, Time: t0.Add(time.Duration(i) * time.Minute)})
				got := ""
				if len(evs) > 1 {
					t.Fatalf("step %d: %d events", i, len(evs))
				}
				if len(evs) == 1 {
					ev := evs[0]
					got = string(ev.Status) + "/" + string(ev.Severity)
					ev.Normalize(t0)
					if err := ev.Validate(); err != nil {
						t.Fatalf("step %d: invalid event: %v", i, err)
					}
					if ev.Source != "threshold" || ev.DedupKey != `db01/threshold:`+rules[0].Name+`{descr="/"}` {
						t.Errorf("step %d: source %q dedup %q", i, ev.Source, ev.DedupKey)
					}
				}
				if got != s.want {
					t.Errorf("step %d (value %g): got %q, want %q", i, s.v, got, s.want)
				}
			}
		})
	}
}

func TestSelectors(t *testing.T) {
	global := []Rule{
		{Name: "disk", Metric: "used", Critical: f(90), Tags: map[string]string{"role": "db"}},
		{Name: "root", Metric: "used", Critical: f(50), Labels: map[string]string{"descr": "/"}, Target: "web01"},
	}
	if err := ValidateRules("thresholds", global); err != nil {
		t.Fatal(err)
	}
	own := []Rule{{Name: "disk", Metric: "used", Critical: f(99)}}
	if err := ValidateRules("targets[0].thresholds", own); err != nil {
		t.Fatal(err)
	}
	e := New(global)
	e.Set(global, map[string][]Rule{"db02": own})
	now := time.Now()
	obs := func(target, role, descr string, v float64) []string {
		var out []string
		for _, ev := range e.Observe(Input{Target: target, Tags: map[string]string{"role": role}, Metric: "used", Labels: map[string]string{"descr": descr}, Value: v, Time: now}) {
			out = append(out, ev.Check)
		}
		return out
	}
	if got := obs("db01", "db", "/var", 95); fmt.Sprint(got) != "[threshold:disk]" {
		t.Errorf("db01 tag selector: %v", got)
	}
	if got := obs("web02", "web", "/var", 95); len(got) != 0 {
		t.Errorf("web02 not selected: %v", got)
	}
	if got := obs("web01", "web", "/", 60); fmt.Sprint(got) != "[threshold:root]" {
		t.Errorf("web01 target+label selector: %v", got)
	}
	if got := obs("db02", "db", "/", 95); len(got) != 0 {
		t.Errorf("db02's own rule (99) overrides global (90): %v", got)
	}
	if got := obs("db02", "db", "/", 99.5); fmt.Sprint(got) != "[threshold:disk]" {
		t.Errorf("db02 own rule: %v", got)
	}
	if p := e.Problems(); len(p) != 3 {
		t.Errorf("problems: %+v", p)
	}
	// Re-setting equal rules (fresh pointers) keeps state: no new event.
	g2 := []Rule{global[0], global[1]}
	g2[0].Critical = f(90)
	e.Set(g2, map[string][]Rule{"db02": own})
	if got := obs("db01", "db", "/var", 95); len(got) != 0 {
		t.Errorf("state lost across Set: %v", got)
	}
	// A changed rule starts afresh.
	g2[0].Critical = f(96)
	e.Set(g2, nil)
	if got := obs("db01", "db", "/var", 97); fmt.Sprint(got) != "[threshold:disk]" {
		t.Errorf("changed rule: %v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{Rule{Warning: f(1)}, "thresholds[0].metric: required"},
		{Rule{Metric: "m"}, "thresholds[0].warning: set warning, critical or both"},
		{Rule{Metric: "m", Warning: f(90), Critical: f(80)}, "thresholds[0].critical: 80 must be above warning 90"},
		{Rule{Metric: "m", Warning: f(80), Clear: f(85)}, "thresholds[0].clear: 85 must not be above the lowest level 80 (hysteresis)"},
		{Rule{Metric: "m", Warning: f(80), Direction: "sideways"}, `thresholds[0].direction: "sideways": want above or below`},
		{Rule{Metric: "m", Warning: f(80), For: -1}, "thresholds[0].for: -1: want 1 to 1000 samples"},
		{Rule{Metric: "m", Name: "bad name", Warning: f(80)}, `thresholds[0].name: "bad name": want 1-64 characters of A-Z a-z 0-9 _ . : -`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			err := ValidateRules("thresholds", []Rule{tc.rule})
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v, want %s", err, tc.want)
			}
		})
	}
	err := ValidateRules("thresholds", []Rule{{Metric: "m", Warning: f(1)}, {Metric: "m", Warning: f(2)}})
	if err == nil || !strings.Contains(err.Error(), `thresholds[1].name: "m" already used by thresholds[0]`) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestLongLabelsDedupKey(t *testing.T) {
	rules := []Rule{{Metric: "m", Critical: f(1)}}
	_ = ValidateRules("t", rules)
	e := New(rules)
	evs := e.Observe(Input{Target: "x", Metric: "m", Labels: map[string]string{"descr": strings.Repeat("a", 400)}, Value: 2, Time: time.Now()})
	if len(evs) != 1 {
		t.Fatal("no event")
	}
	evs[0].Normalize(time.Now())
	if err := evs[0].Validate(); err != nil {
		t.Fatal(err)
	}
	_ = incident.Critical
}

// A manual resolve rearms the series: a level still reached fires again
// after For samples, as after a restart; other series keep their level.
func TestRearm(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := New([]Rule{{Name: "disk", Metric: "used", Critical: f(90), For: 2}})
	obs := func(tg string, v float64) []incident.Event {
		return e.Observe(Input{Target: tg, Metric: "used", Labels: map[string]string{"path": "/"}, Value: v, Time: t0})
	}
	obs("a", 95)
	evs := obs("a", 95)
	obs("b", 95)
	obs("b", 95)
	if len(evs) != 1 || evs[0].Status != incident.Problem {
		t.Fatalf("fire: %+v", evs)
	}
	if !e.Rearm(evs[0].DedupKey) || e.Rearm(evs[0].DedupKey) {
		t.Fatal("Rearm reports")
	}
	if got := obs("a", 95); len(got) != 0 {
		t.Fatalf("fired before For samples after rearm: %+v", got)
	}
	if got := obs("a", 95); len(got) != 1 || got[0].Status != incident.Problem || got[0].DedupKey != evs[0].DedupKey {
		t.Fatalf("did not recur after rearm: %+v", got)
	}
	if p := e.Problems(); len(p) != 2 {
		t.Fatalf("problems %+v", p)
	}
}
