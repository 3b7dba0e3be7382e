package trap

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
)

const (
	authPass  = "authpass123"
	privPass  = "privpass123"
	watchPass = "watchpass123"
	engineID  = "0x8000000001020304"
)

var testUsers = []User{
	{Name: "unyo", AuthProtocol: "SHA", AuthPassphrase: authPass, PrivProtocol: "AES", PrivPassphrase: privPass},
	{Name: "watcher", AuthProtocol: "SHA256", AuthPassphrase: watchPass},
}

type chanSink chan incident.Event

func (c chanSink) Publish(ctx context.Context, ev incident.Event) error {
	select {
	case c <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type harness struct {
	r      *Receiver
	events chanSink
	reg    *prometheus.Registry
	port   string
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Users == nil {
		cfg.Users = testUsers
	}
	h := &harness{events: make(chanSink, 1000), reg: prometheus.NewPedanticRegistry()}
	var err error
	if h.r, err = New(cfg, h.events, nil, h.reg); err != nil {
		t.Fatal(err)
	}
	if err := h.r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.r.Stop)
	_, h.port, _ = net.SplitHostPort(h.r.Addr().String())
	return h
}

func (h *harness) next(t *testing.T) incident.Event {
	t.Helper()
	select {
	case ev := <-h.events:
		ev.Normalize(time.Now())
		if err := ev.Validate(); err != nil {
			t.Fatalf("invalid event %+v: %v", ev, err)
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return incident.Event{}
}

func (h *harness) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-h.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

// snmp runs a net-snmp command (snmptrap, snmpinform) against the receiver.
// The test fails when net-snmp is missing: `make test` installs it.
func snmp(t *testing.T, tool string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package snmp (apt-get install -y snmp)", tool)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	// Numeric OIDs only (no MIB loading), no persistent state or user
	// configuration from the machine.
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var ifVarbinds = []string{
	"1.3.6.1.2.1.2.2.1.1.2", "i", "2",
	"1.3.6.1.2.1.2.2.1.7.2", "i", "1",
	"1.3.6.1.2.1.2.2.1.8.2", "i", "2",
	"1.3.6.1.2.1.2.2.1.2.2", "s", "eth1",
}

func TestSnmptrapLinkDownUpV2c(t *testing.T) {
	h := start(t, Config{Targets: map[string]string{"127.0.0.1": "edge-sw-01"}})
	dst := "127.0.0.1:" + h.port
	snmp(t, "snmptrap", append([]string{"-v", "2c", "-c", "public", dst, "", "1.3.6.1.6.3.1.1.5.3"}, ifVarbinds...)...)
	down := h.next(t)
	if down.Source != "snmp-trap" || down.Target != "edge-sw-01" || down.Severity != incident.Major || down.Status != incident.Problem ||
		down.DedupKey != "edge-sw-01/ifIndex/2" || down.Check != "link" {
		t.Fatalf("linkDown event %+v", down)
	}
	if down.Message != "edge-sw-01: link down on ifIndex 2 (eth1)" || down.Labels["trap"] != "IF-MIB::linkDown" || down.Labels["version"] != "v2c" {
		t.Errorf("message %q labels %v", down.Message, down.Labels)
	}
	snmp(t, "snmptrap", append([]string{"-v", "2c", "-c", "public", dst, "", "1.3.6.1.6.3.1.1.5.4"}, ifVarbinds...)...)
	up := h.next(t)
	if up.Status != incident.OK || up.DedupKey != down.DedupKey || up.ID == down.ID {
		t.Fatalf("linkUp event %+v", up)
	}
}

func TestSnmptrapV3(t *testing.T) {
	h := start(t, Config{})
	dst := "127.0.0.1:" + h.port
	t.Run("authPriv SHA/AES", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "3", "-e", engineID, "-u", "unyo", "-l", "authPriv", "-a", "SHA", "-A", authPass, "-x", "AES", "-X", privPass,
			dst, "", "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.2.1.1.5.0", "s", "router-1")
		ev := h.next(t)
		if ev.Severity != incident.Warning || ev.Check != "restart" || ev.DedupKey != "127.0.0.1/restart" || ev.Labels["user"] != "unyo" || ev.Labels["version"] != "v3" {
			t.Fatalf("coldStart event %+v", ev)
		}
	})
	t.Run("authNoPriv SHA256", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "3", "-e", engineID, "-u", "watcher", "-l", "authNoPriv", "-a", "SHA256", "-A", watchPass,
			dst, "", "1.3.6.1.6.3.1.1.5.5")
		ev := h.next(t)
		if ev.Severity != incident.Minor || ev.Check != "authenticationFailure" || ev.Labels["user"] != "watcher" {
			t.Fatalf("authenticationFailure event %+v", ev)
		}
	})
	t.Run("wrong passphrase is refused as auth", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "3", "-e", engineID, "-u", "unyo", "-l", "authPriv", "-a", "SHA", "-A", "wrongpass99", "-x", "AES", "-X", privPass,
			dst, "", "1.3.6.1.6.3.1.1.5.1")
		eventually(t, "v3 auth refusal", func() bool { return testutil.ToFloat64(h.r.m.rejected["auth"]) == 1 })
		h.none(t, 50*time.Millisecond)
	})
	t.Run("unknown user", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "3", "-e", engineID, "-u", "mallory", "-l", "authNoPriv", "-a", "SHA", "-A", authPass, dst, "", "1.3.6.1.6.3.1.1.5.1")
		eventually(t, "v3 unknown user", func() bool { return testutil.ToFloat64(h.r.m.rejected["unknown_user"]) == 1 })
		h.none(t, 50*time.Millisecond)
	})
	if n := testutil.ToFloat64(h.r.m.decodeErrors[2]); n != 0 {
		t.Errorf("decode errors %v: refusals must be counted as rejected, not as decode errors", n)
	}
}

func TestSnmptrapV1(t *testing.T) {
	h := start(t, Config{Rules: []Rule{{
		Name: "ups-on-battery", OID: "1.3.6.1.4.1.318.0.5", Severity: "critical",
		Varbinds: []VarbindMatch{{OID: "1.3.6.1.4.1.318.2.3.3", Regex: `battery`}},
		DedupKey: "{{.Target}}/ups", Message: "{{.Target}}: {{index .Var \"1.3.6.1.4.1.318.2.3.3.0\"}}",
	}}})
	dst := "127.0.0.1:" + h.port
	t.Run("generic linkDown", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "1", "-c", "public", dst, "1.3.6.1.4.1.8072.3.2.10", "127.0.0.1", "2", "0", "", "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
		ev := h.next(t)
		if ev.Severity != incident.Major || ev.DedupKey != "127.0.0.1/ifIndex/3" || ev.Labels["version"] != "v1" || ev.Labels["trap_oid"] != "1.3.6.1.6.3.1.1.5.3" {
			t.Fatalf("v1 linkDown event %+v", ev)
		}
	})
	t.Run("enterprise specific with rule", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "1", "-c", "public", dst, "1.3.6.1.4.1.318", "127.0.0.1", "6", "5", "", "1.3.6.1.4.1.318.2.3.3.0", "s", "UPS: on battery power")
		ev := h.next(t)
		if ev.Severity != incident.Critical || ev.Check != "ups-on-battery" || ev.DedupKey != "127.0.0.1/ups" || ev.Message != "127.0.0.1: UPS: on battery power" {
			t.Fatalf("v1 enterprise event %+v", ev)
		}
	})
	t.Run("enterprise specific unmatched is info", func(t *testing.T) {
		snmp(t, "snmptrap", "-v", "1", "-c", "public", dst, "1.3.6.1.4.1.318", "127.0.0.1", "6", "7", "", "1.3.6.1.4.1.318.2.3.3.0", "s", "self test passed")
		ev := h.next(t)
		if ev.Severity != incident.Info || ev.Labels["unmatched"] != "true" || ev.DedupKey != "127.0.0.1/trap/1.3.6.1.4.1.318.0.7" ||
			ev.Message != "127.0.0.1: trap SNMPv2-SMI::enterprises.318.0.7 (v1) SNMPv2-SMI::enterprises.318.2.3.3.0=self test passed" {
			t.Fatalf("unmatched event %+v", ev)
		}
	})
}

func TestSnmpinformV2cAnswered(t *testing.T) {
	h := start(t, Config{})
	// snmpinform exits non-zero unless the receiver answers the inform.
	snmp(t, "snmpinform", "-v", "2c", "-c", "public", "-r", "0", "-t", "3", "127.0.0.1:"+h.port, "", "1.3.6.1.6.3.1.1.5.2")
	if ev := h.next(t); ev.Check != "restart" || ev.Severity != incident.Warning {
		t.Fatalf("warmStart inform event %+v", ev)
	}
}

func TestMalformedCountedListenerStillWorks(t *testing.T) {
	h := start(t, Config{Communities: []Secret{"public"}})
	c, err := net.Dial("udp", h.r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v2c, _ := os.ReadFile("testdata/packets/v2c-linkdown.bin")
	for _, g := range [][]byte{
		[]byte("garbage"), {0x30, 0x82, 0xff, 0xff, 0x02, 0x01, 0x01}, {0x30, 0x03, 0x02, 0x01, 0x01},
		v2c[:len(v2c)/2], {0x30, 0x05, 0x02, 0x01, 0x09, 0x04, 0x00},
	} {
		c.Write(g)
	}
	eventually(t, "5 decode errors", func() bool {
		var n float64
		for _, ctr := range h.r.m.decodeErrors {
			n += testutil.ToFloat64(ctr)
		}
		return n == 5
	})
	snmp(t, "snmptrap", append([]string{"-v", "2c", "-c", "wrong", "127.0.0.1:" + h.port, "", "1.3.6.1.6.3.1.1.5.3"}, ifVarbinds...)...)
	eventually(t, "community rejected", func() bool { return testutil.ToFloat64(h.r.m.rejected["community"]) == 1 })
	snmp(t, "snmptrap", append([]string{"-v", "2c", "-c", "public", "127.0.0.1:" + h.port, "", "1.3.6.1.6.3.1.1.5.3"}, ifVarbinds...)...)
	if ev := h.next(t); ev.Check != "link" {
		t.Fatalf("event after garbage %+v", ev)
	}
	h.none(t, 50*time.Millisecond)
}

// blockSink never returns until its context ends; entered counts the
// publishes that got stuck in it.
type blockSink struct{ entered *atomic.Int32 }

func (b blockSink) Publish(ctx context.Context, _ incident.Event) error {
	if b.entered != nil {
		b.entered.Add(1)
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestStormDropsNotBlocks: a stuck sink and a 4-slot queue; a storm of traps
// is read in full and the overflow counted as dropped.
func TestStormDropsNotBlocks(t *testing.T) {
	sink := blockSink{entered: new(atomic.Int32)}
	r, err := New(Config{Listen: "127.0.0.1:0", QueueSize: 4, Workers: 1, PublishTimeout: time.Minute}, sink, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.drain = 50 * time.Millisecond
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	pkt, _ := os.ReadFile("testdata/packets/v2c-linkdown.bin")
	c, _ := net.Dial("udp", r.Addr().String())
	defer c.Close()
	// The worker is stuck in the sink before the storm starts (it could
	// otherwise take up to maxBatch packets first), so what is kept is
	// only what the 4-packet queue holds.
	c.Write(pkt)
	eventually(t, "the worker stuck in the sink", func() bool { return sink.entered.Load() == 1 })
	const n = 300
	for i := range n {
		c.Write(pkt)
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	eventually(t, "all packets read", func() bool { return testutil.ToFloat64(r.m.packets) == n+1 })
	if d := testutil.ToFloat64(r.m.dropped); d != n-4 {
		t.Fatalf("dropped %v of %d with a 4-packet queue and a stuck sink, want %d", d, n, n-4)
	}
}

func TestDecodeCapturedPackets(t *testing.T) {
	cfg := Config{Users: testUsers}
	cfg.setDefaults()
	d, err := newDecoder(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		file, version, oid, user string
		vars                     int
	}{
		{"v2c-linkdown.bin", "v2c", "1.3.6.1.6.3.1.1.5.3", "", 4},
		{"v1-linkdown.bin", "v1", "1.3.6.1.6.3.1.1.5.3", "", 1},
		{"v3-authpriv-coldstart.bin", "v3", "1.3.6.1.6.3.1.1.5.1", "unyo", 1},
		{"v3-authnopriv-linkup.bin", "v3", "1.3.6.1.6.3.1.1.5.4", "watcher", 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/packets", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if v := peekVersion(b); v != tt.version {
				t.Errorf("peekVersion = %s", v)
			}
			tr, err := d.decode(b, src)
			if err != nil {
				t.Fatal(err)
			}
			if tr.Version != tt.version || tr.OID != tt.oid || tr.User != tt.user || len(tr.Vars) != tt.vars || tr.Agent != src {
				t.Fatalf("trap %+v", tr)
			}
		})
	}
	t.Run("v3 without users", func(t *testing.T) {
		nd, _ := newDecoder(&Config{})
		b, _ := os.ReadFile("testdata/packets/v3-authpriv-coldstart.bin")
		if _, err := nd.decode(b, src); !errors.Is(err, ErrNoV3Users) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("v3 tampered", func(t *testing.T) {
		b, _ := os.ReadFile("testdata/packets/v3-authnopriv-linkup.bin")
		b[len(b)-1] ^= 1
		if _, err := d.decode(b, src); !errors.Is(err, ErrAuth) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestGosnmpPanicContained: a v3 header gosnmp v1.47.0 cannot parse makes
// UnmarshalTrap dereference nil (found by FuzzTrapDecode). The decoder must
// return an error and the receiver keep running.
func TestGosnmpPanicContained(t *testing.T) {
	bad := append([]byte("0\x81\xb3\x02\x01\x03"), []byte(strings.Repeat("0", 176))...)
	cfg := Config{Users: testUsers}
	cfg.setDefaults()
	d, _ := newDecoder(&cfg)
	if _, err := unmarshalGuarded(d.v3, bad); !errors.Is(err, errLibraryBug) {
		t.Fatalf("err = %v, want the contained gosnmp panic", err)
	}
	// The receiver's own v3 header check now refuses it before gosnmp.
	if _, err := d.decode(bad, netip.MustParseAddr("192.0.2.1")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
	h := start(t, Config{})
	c, _ := net.Dial("udp", h.r.Addr().String())
	defer c.Close()
	c.Write(bad)
	eventually(t, "decode error", func() bool { return testutil.ToFloat64(h.r.m.decodeErrors[2]) == 1 })
	snmp(t, "snmptrap", "-v", "2c", "-c", "public", "127.0.0.1:"+h.port, "", "1.3.6.1.6.3.1.1.5.1")
	if ev := h.next(t); ev.Check != "restart" {
		t.Fatalf("event %+v", ev)
	}
}

func TestResolveOID(t *testing.T) {
	for in, want := range map[string]string{
		"IF-MIB::linkDown": "1.3.6.1.6.3.1.1.5.3", "linkUp": "1.3.6.1.6.3.1.1.5.4", ".1.3.6.1.4.1.9": "1.3.6.1.4.1.9",
		"IF-MIB::ifIndex.3": "1.3.6.1.2.1.2.2.1.1.3", "SNMPv2-MIB::coldStart": "1.3.6.1.6.3.1.1.5.1",
	} {
		if got, err := ResolveOID(in); err != nil || got != want {
			t.Errorf("ResolveOID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "FOO-MIB::bar", "1..2", "1.2.", "IF-MIB::ifIndex.x"} {
		if _, err := ResolveOID(bad); err == nil {
			t.Errorf("ResolveOID(%q) succeeded", bad)
		}
	}
	if n := NameOID("1.3.6.1.2.1.2.2.1.8.12"); n != "IF-MIB::ifOperStatus.12" {
		t.Errorf("NameOID = %q", n)
	}
}

func TestLoadBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid-*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			first, _, _ := strings.Cut(string(data), "\n")
			want := strings.ReplaceAll(strings.TrimPrefix(first, "# error: "), `\n`, "\n")
			if _, err := LoadConfig(data); err == nil || err.Error() != want {
				t.Fatalf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
}

func TestSecretsHidden(t *testing.T) {
	u := testUsers[0]
	if s := (Secret("hunter22")).String(); s != "<secret>" {
		t.Fatal(s)
	}
	if v, _ := u.AuthPassphrase.MarshalYAML(); v != "<secret>" {
		t.Fatal(v)
	}
}

func TestMetricsLint(t *testing.T) {
	h := start(t, Config{})
	mfs, err := h.reg.Gather()
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

// FuzzTrapDecode feeds datagrams through the decoder (gosnmp's
// UnmarshalTrap behind our wrapper, with v3 users configured) and the rule
// set. Nothing may panic and every event must validate.
func FuzzTrapDecode(f *testing.F) {
	files, _ := filepath.Glob("testdata/packets/*.bin")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	v1 := &gosnmp.SnmpPacket{Version: gosnmp.Version1, Community: "public", PDUType: gosnmp.Trap,
		SnmpTrap: gosnmp.SnmpTrap{Enterprise: ".1.3.6.1.4.1.9", AgentAddress: "10.0.0.1", GenericTrap: 6, SpecificTrap: 1,
			Variables: []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.2.2.1.1.1", Type: gosnmp.Integer, Value: 1}}}}
	if b, err := v1.MarshalMsg(); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	cfg := Config{Users: testUsers}
	cfg.setDefaults()
	d, err := newDecoder(&cfg)
	if err != nil {
		f.Fatal(err)
	}
	rs, err := newRuleSet(&cfg)
	if err != nil {
		f.Fatal(err)
	}
	src := netip.MustParseAddr("192.0.2.1")
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		// A panic in our code fails the fuzz run; one inside gosnmp is
		// contained by unmarshalGuarded and comes back as an error.
		tr, err := d.decode(b, src)
		if err != nil {
			return
		}
		if r, _ := rs.match(tr); r != nil {
			ev := r.event(tr, "fuzz", now)
			if err := ev.Validate(); err != nil {
				t.Fatalf("invalid event from %x: %v (%+v)", b, err, ev)
			}
		}
	})
}

// BenchmarkDecode is the per-trap cost on a worker: decode, rule match,
// event build (no socket, no sink).
func BenchmarkDecode(b *testing.B) {
	cfg := Config{Users: testUsers}
	cfg.setDefaults()
	d, _ := newDecoder(&cfg)
	rs, _ := newRuleSet(&cfg)
	src := netip.MustParseAddr("192.0.2.1")
	for _, file := range []string{"v2c-linkdown.bin", "v1-linkdown.bin", "v3-authpriv-coldstart.bin", "v3-authnopriv-linkup.bin"} {
		pkt, err := os.ReadFile(filepath.Join("testdata/packets", file))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.TrimSuffix(file, ".bin"), func(b *testing.B) {
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				tr, err := d.decode(pkt, src)
				if err != nil {
					b.Fatal(err)
				}
				if r, _ := rs.match(tr); r != nil {
					_ = r.event(tr, "bench", now)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "traps/s")
		})
	}
}
