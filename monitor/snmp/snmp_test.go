package snmp

import (
	"context"
	"math"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
	"github.com/unyo-ops/unyo/monitor/snmp/snmptest"
)

func cfgFor(t *testing.T, a *snmptest.Agent, c Config) *Config {
	t.Helper()
	c.Port = a.Port
	if c.Timeout == 0 {
		c.Timeout = 3 * time.Second
	}
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func find(r Result, name string, labels ...string) (float64, bool) {
	for _, s := range r.Samples {
		if s.Name != name {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				ok = false
			}
		}
		if ok {
			return s.Value, true
		}
	}
	return 0, false
}

func TestPollMetricSets(t *testing.T) {
	a := snmptest.Start(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"v2c", Config{Version: "v2c", Community: snmptest.Community}},
		{"v3 authPriv SHA/AES", Config{Version: "v3", User: snmptest.User, AuthProtocol: "SHA", AuthPassword: snmptest.AuthPass, PrivProtocol: "AES", PrivPassword: snmptest.PrivPass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			p, err := NewPoller(Options{Workers: 4}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := cfgFor(t, a, tc.cfg)
			cfg.OIDs = []OID{{Name: "if_in_discards", OID: "IF-MIB::ifInDiscards", Walk: true}, {Name: "sys_processes", OID: "HOST-RESOURCES-MIB::hrSystemProcesses.0"}}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			d := Device{Target: "agent", Address: a.Host, Config: cfg}
			r := p.Poll(context.Background(), d)
			if r.Err != nil {
				t.Fatalf("poll: %v", r.Err)
			}
			for _, want := range [][]string{
				{"snmp_sys_uptime_seconds"},
				{"snmp_storage_used_percent", "descr", "Physical memory", "type", "ram"},
				{"snmp_storage_used_percent", "descr", "/", "type", "fixed_disk"},
				{"snmp_storage_size_bytes", "descr", "Physical memory"},
				{"snmp_if_oper_up", "if", "lo"},
				{"snmp_if_in_errors_total", "if", "lo"},
				{"snmp_load1"}, {"snmp_load15"},
				{"snmp_memory_total_bytes"}, {"snmp_memory_used_percent"},
				{"if_in_discards", "index", "1"},
				{"sys_processes"},
			} {
				if _, ok := find(r, want[0], want[1:]...); !ok {
					t.Errorf("no sample %v in first poll", want)
				}
			}
			// net-snmp fills hrProcessorLoad only after a minute of sampling.
			if _, ok := find(r, "snmp_cpu_load_avg_percent"); !ok {
				t.Log("no hrProcessorLoad yet (snmpd reports it after its first minute)")
			}
			if v, _ := find(r, "snmp_if_oper_up", "if", "lo"); v != 1 {
				t.Errorf("lo oper up = %v", v)
			}
			if v, _ := find(r, "snmp_memory_used_percent"); v <= 0 || v > 100 {
				t.Errorf("memory used %% = %v", v)
			}
			if r.Requests > 6 {
				t.Errorf("%d requests for one poll; the multi-column walk should need few", r.Requests)
			}
			// Rates need two polls.
			time.Sleep(1100 * time.Millisecond)
			r2 := p.Poll(context.Background(), d)
			if r2.Err != nil {
				t.Fatal(r2.Err)
			}
			bps, ok := find(r2, "snmp_if_in_bits_per_second", "if", "lo")
			// snmpd caches interface counters for a few seconds, so the rate
			// over 1 s may be 0; it must be there and finite.
			if !ok || bps < 0 || math.IsInf(bps, 0) {
				t.Errorf("lo in bits/s = %v (%v)", bps, ok)
			}
			if len(r2.Events) != 0 {
				t.Errorf("unexpected events %+v", r2.Events)
			}
			mfs, _ := reg.Gather()
			if probs, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(probs) > 0 {
				t.Errorf("promlint: %v %v", probs, err)
			}
		})
	}
}

func TestV3WrongPassword(t *testing.T) {
	a := snmptest.Start(t)
	p, _ := NewPoller(Options{}, nil, nil)
	cfg := cfgFor(t, a, Config{Version: "v3", User: snmptest.User, AuthPassword: "wrongpass999", PrivPassword: snmptest.PrivPass, Timeout: time.Second})
	r := p.Poll(context.Background(), Device{Target: "x", Address: a.Host, Config: cfg})
	if r.Err == nil {
		t.Fatal("poll with a wrong auth password succeeded")
	}
}

func TestProcesses(t *testing.T) {
	a := snmptest.Start(t)
	p, _ := NewPoller(Options{}, nil, nil)
	cfg := cfgFor(t, a, Config{MetricSets: []string{}})
	procs := []Process{{Name: "snmpd"}, {Name: "no-such-daemon-unyo"}, {Name: "snmpd", Max: 0, Min: 5}}
	for i := range procs {
		procs[i].Defaults()
		if err := procs[i].Validate(); err != nil {
			t.Fatal(err)
		}
	}
	r := p.Poll(context.Background(), Device{Target: "x", Address: a.Host, Config: cfg, Processes: procs})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Processes) != 3 {
		t.Fatalf("%+v", r.Processes)
	}
	if pc := r.Processes[0]; pc.Count < 1 || !pc.OK {
		t.Errorf("snmpd: %+v", pc)
	}
	if pc := r.Processes[1]; pc.Count != 0 || pc.OK {
		t.Errorf("missing daemon: %+v", pc)
	}
	if pc := r.Processes[2]; pc.OK {
		t.Errorf("snmpd min 5: %+v", pc)
	}
}

// A dead device (nothing listens on its port) must not hold up live ones.
func TestDeadDeviceDoesNotDelayOthers(t *testing.T) {
	a := snmptest.Start(t)
	b := snmptest.Start(t)
	p, _ := NewPoller(Options{Workers: 8}, nil, nil)
	dead := &Config{Timeout: 2 * time.Second, Retries: ptr(1), Port: snmptest.FreeUDPPort(t)}
	dead.Defaults()
	if err := dead.Validate(); err != nil {
		t.Fatal(err)
	}
	devs := []Device{
		{Target: "dead1", Address: "127.0.0.1", Config: dead},
		{Target: "dead2", Address: "127.0.0.1", Config: dead},
		{Target: "a", Address: a.Host, Config: cfgFor(t, a, Config{})},
		{Target: "b", Address: b.Host, Config: cfgFor(t, b, Config{})},
	}
	start := time.Now()
	res := make([]Result, len(devs))
	done := make([]time.Duration, len(devs))
	var wg sync.WaitGroup
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = p.Poll(context.Background(), d)
			done[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i := 2; i < 4; i++ {
		if res[i].Err != nil {
			t.Fatalf("%s: %v", devs[i].Target, res[i].Err)
		}
		if done[i] > time.Second {
			t.Errorf("live device %s took %v while dead devices were being polled", devs[i].Target, done[i])
		}
	}
	for i := 0; i < 2; i++ {
		if res[i].Err == nil || !strings.Contains(res[i].Err.Error(), "deadline") && !strings.Contains(res[i].Err.Error(), "refused") && !strings.Contains(res[i].Err.Error(), "timeout") {
			t.Errorf("dead device: %v", res[i].Err)
		}
		if done[i] > 3*time.Second {
			t.Errorf("dead device took %v, deadline 2s", done[i])
		}
	}
	t.Logf("live polls %v %v; dead polls %v %v (%v, %v)", done[2], done[3], done[0], done[1], res[0].Err, res[1].Err)
}

func TestRebootDetected(t *testing.T) {
	a := snmptest.Start(t)
	p, _ := NewPoller(Options{}, nil, nil)
	cfg := cfgFor(t, a, Config{MetricSets: []string{SetSystem}})
	d := Device{Target: "host1", Address: a.Host, Config: cfg}
	time.Sleep(1200 * time.Millisecond) // let sysUpTime grow past what a fresh start shows
	if r := p.Poll(context.Background(), d); r.Err != nil || len(r.Events) != 0 {
		t.Fatalf("%v %+v", r.Err, r.Events)
	}
	a.Restart()
	r := p.Poll(context.Background(), d)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(r.Events) != 1 || r.Events[0].Check != "snmp:reboot" || r.Events[0].Status != incident.Problem {
		t.Fatalf("events after restart: %+v", r.Events)
	}
	ev := r.Events[0]
	ev.Normalize(time.Now())
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Log(ev.Message)
}

// An agent in a network namespace with a veth pair of its own: taking one
// end down makes the other's ifOperStatus down while it stays admin up.
func TestLinkDownUp(t *testing.T) {
	h := pingtest.NewHost(t)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"-n", h.NS}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	run("link", "add", "ulink0", "type", "veth", "peer", "name", "ulink1")
	run("link", "set", "ulink0", "up")
	run("link", "set", "ulink1", "up")
	a := snmptest.StartWith(t, snmptest.Options{Host: h.Addr.String(), Port: 1161, NetNS: h.NS})
	p, _ := NewPoller(Options{}, nil, nil)
	cfg := cfgFor(t, a, Config{MetricSets: []string{SetSystem, SetInterfaces}})
	d := Device{Target: "nshost", Address: a.Host, Config: cfg}
	poll := func() Result {
		t.Helper()
		r := p.Poll(context.Background(), d)
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		return r
	}
	if r := poll(); len(r.Events) != 0 {
		t.Fatalf("first poll events: %+v", r.Events)
	}
	// snmpd caches the interface table for a few seconds: poll until the
	// change shows.
	until := func() Result {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := poll()
			if len(r.Events) > 0 || time.Now().After(deadline) {
				return r
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	run("link", "set", "ulink1", "down")
	r := until()
	if len(r.Events) != 1 || r.Events[0].Check != "snmp:link:ulink0" || r.Events[0].Status != incident.Problem {
		t.Fatalf("after link down: %+v", r.Events)
	}
	run("link", "set", "ulink1", "up")
	r = until()
	if len(r.Events) != 1 || r.Events[0].Status != incident.OK || r.Events[0].DedupKey != "nshost/snmp:link:ulink0" {
		t.Fatalf("after link up: %+v", r.Events)
	}
}

func TestCounterDelta(t *testing.T) {
	tests := []struct {
		old, cur uint64
		bits     int
		limit    float64
		want     uint64
		ok       bool
	}{
		{100, 150, 64, math.Inf(1), 50, true},
		{math.MaxUint32 - 9, 10, 32, math.Inf(1), 20, true},
		{math.MaxUint64 - 9, 10, 64, 1 << 40, 20, true},
		{1 << 40, 5, 64, 1 << 40, 0, false}, // reset, not a wrap
	}
	for _, tc := range tests {
		got, ok := counterDelta(tc.old, tc.cur, tc.bits, tc.limit)
		if got != tc.want || ok != tc.ok {
			t.Errorf("counterDelta(%d, %d, %d) = %d %v, want %d %v", tc.old, tc.cur, tc.bits, got, ok, tc.want, tc.ok)
		}
	}
}

func TestResolveOID(t *testing.T) {
	for in, want := range map[string]string{
		"IF-MIB::ifHCInOctets":                "." + mibNames["IF-MIB::ifHCInOctets"],
		"HOST-RESOURCES-MIB::hrStorageUsed.3": ".1.3.6.1.2.1.25.2.3.1.6.3",
		"1.3.6.1.2.1.1.3.0":                   ".1.3.6.1.2.1.1.3.0",
		".1.3.6.1.4.1.99999.1":                ".1.3.6.1.4.1.99999.1",
	} {
		if got, err := ResolveOID(in); err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"IF-MIB::ifBogus", "FOO-MIB::x", "ifHCInOctets", "1.3.x"} {
		if _, err := ResolveOID(bad); err == nil {
			t.Errorf("%s resolved", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		c    Config
		want string
	}{
		{Config{Version: "v1"}, `version: "v1": want v2c or v3`},
		// Every problem, not only the first.
		{Config{Version: "v3"}, "user: required for v3\nauth_password: at least 8 characters required for v3\npriv_password: at least 8 characters required for authPriv"},
		{Config{Version: "v3", User: "u", AuthPassword: "short", PrivPassword: "longenough"}, "auth_password: at least 8 characters required for v3"},
		{Config{Version: "v3", User: "u", AuthPassword: "longenough", PrivPassword: "longenough", AuthProtocol: "SHA1"}, `auth_protocol: "SHA1": want SHA, SHA224, SHA256, SHA384, SHA512 or MD5`},
		{Config{Version: "v3", User: "u", AuthPassword: "longenough"}, "priv_password: at least 8 characters required for authPriv"},
		{Config{Interval: 500 * time.Millisecond}, "interval: 500ms: must be at least 1s"},
		{Config{MetricSets: []string{"system", "disks"}}, `metric_sets[1]: "disks": want one of system, storage, processor, interfaces, load, memory`},
		{Config{OIDs: []OID{{Name: "a", OID: "1.3.6.1"}, {Name: "b", OID: "IF-MIB::ifInOctetz"}}}, `oids[1].oid: "IF-MIB::ifInOctetz": unknown MIB object (known MIBs: SNMPv2-MIB, IF-MIB, HOST-RESOURCES-MIB, UCD-SNMP-MIB; use the numeric OID for others)`},
		{Config{OIDs: []OID{{Name: "bad-name", OID: "1.3.6.1"}}}, `oids[0].name: "bad-name": want a metric name ([a-zA-Z_][a-zA-Z0-9_]*)`},
		{Config{OIDs: []OID{{Name: "big", OID: "99999999999999999999.1"}}}, `oids[0].oid: "99999999999999999999.1": arc 1: arc larger than 4294967295 (32 bits)`},
		{Config{OIDs: []OID{{Name: "big", OID: "IF-MIB::ifInOctets.4294967296"}}}, `oids[0].oid: instance suffix: "4294967296": arc 1: arc larger than 4294967295 (32 bits)`},
		{Config{OIDs: []OID{{Name: "first", OID: "5.1"}}}, `oids[0].oid: "5.1": the first arc must be 0, 1 or 2, and under 0 or 1 the second at most 39`},
		{Config{Retries: ptr(11)}, "retries: 11: want 0 to 10"},
	}
	for _, tc := range tests {
		c := tc.c
		c.Defaults()
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v:\n got %v\nwant %s", tc.c, err, tc.want)
		}
	}
	if s := Secret("x").String(); s != "<secret>" {
		t.Error(s)
	}
}

func TestStorageType(t *testing.T) {
	for in, want := range map[string]string{
		".1.3.6.1.2.1.25.2.1.4": "fixed_disk", "1.3.6.1.2.1.25.2.1.2": "ram", ".1.3.6.1.2.1.25.2.1.1": "other",
		".1.3.6.1.2.1.25.2.1.10": "network_disk", ".1.3.6.1.2.1.25.2.1.99": ".1.3.6.1.2.1.25.2.1.99",
		".1.3.6.1.4.1.9.9": ".1.3.6.1.4.1.9.9", "": "unknown",
	} {
		if got := StorageType(in); got != want {
			t.Errorf("StorageType(%q) = %q, want %q", in, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestRetriesZero: retries 0 (no retry) is kept, not taken for "unset".
func TestRetriesZero(t *testing.T) {
	c := Config{Retries: ptr(0)}
	c.Defaults()
	if err := c.Validate(); err != nil || c.RetryCount() != 0 {
		t.Errorf("retries 0: %d, %v", c.RetryCount(), err)
	}
	var d Config
	d.Defaults()
	if d.RetryCount() != DefaultRetries {
		t.Errorf("unset retries: %d, want %d", d.RetryCount(), DefaultRetries)
	}
}
