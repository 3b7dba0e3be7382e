package trap

import (
	"context"
	"encoding/asn1"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/internal/syncbuf"
)

const relaxedPass = "relaxedpass1"

// securityUsers are testUsers plus a user with privacy whose min_level
// lets authNoPriv through.
var securityUsers = append(append([]User(nil), testUsers...),
	User{Name: "relaxed", AuthProtocol: "SHA", AuthPassphrase: relaxedPass, PrivProtocol: "AES", PrivPassphrase: relaxedPass, MinLevel: "authNoPriv"})

// captureTrap runs snmptrap with args against a UDP socket of the test's
// own (the destination goes where args hold "DST") and returns the
// datagram it sent.
func captureTrap(t *testing.T, args ...string) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	args = append([]string(nil), args...)
	for i, a := range args {
		if a == "DST" {
			args[i] = pc.LocalAddr().String()
		}
	}
	snmp(t, "snmptrap", args...)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram from snmptrap: %v", err)
	}
	return buf[:n]
}

// The SNMPv3 message as encoding/asn1 reads it, independently of
// parseV3Header (RFC 3412 section 6).
type v3Message struct {
	Version   int
	Global    asn1.RawValue
	SecParams asn1.RawValue
	Data      asn1.RawValue
}

type v3GlobalData struct {
	ID, MaxSize int
	Flags       []byte
	Model       int
}

// rewriteGlobal BER-decodes the message, lets edit change msgGlobalData
// (msgFlags, msgSecurityModel) and encodes it again. Nothing else changes:
// the digest and the ciphertext stay those snmptrap computed.
func rewriteGlobal(t *testing.T, b []byte, edit func(*v3GlobalData)) []byte {
	t.Helper()
	var m v3Message
	if rest, err := asn1.Unmarshal(b, &m); err != nil || len(rest) != 0 || m.Version != 3 {
		t.Fatalf("not an SNMPv3 message: %v (%d bytes left)", err, len(rest))
	}
	var g v3GlobalData
	if _, err := asn1.Unmarshal(m.Global.FullBytes, &g); err != nil {
		t.Fatalf("msgGlobalData: %v", err)
	}
	if g.Model != 3 {
		t.Fatalf("captured msgSecurityModel %d, want 3", g.Model)
	}
	edit(&g)
	gb, err := asn1.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	m.Global = asn1.RawValue{FullBytes: gb}
	out, err := asn1.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(b) {
		t.Fatalf("re-encoded message is %d bytes, was %d", len(out), len(b))
	}
	diff := 0
	for i := range b {
		if b[i] != out[i] {
			diff++
		}
	}
	if diff != 1 {
		t.Fatalf("%d bytes changed, want exactly 1", diff)
	}
	return out
}

func setModel(m int) func(*v3GlobalData) { return func(g *v3GlobalData) { g.Model = m } }

func setLevel(l byte) func(*v3GlobalData) {
	return func(g *v3GlobalData) { g.Flags[0] = g.Flags[0]&^3 | l }
}

func v3Args(user, level, auth, authPass, priv, privPass string) []string {
	a := []string{"-v", "3", "-e", engineID, "-u", user, "-l", level}
	if auth != "" {
		a = append(a, "-a", auth, "-A", authPass)
	}
	if priv != "" {
		a = append(a, "-x", priv, "-X", privPass)
	}
	return append(a, "DST", "", "1.3.6.1.6.3.1.1.5.1", "1.3.6.1.2.1.1.5.0", "s", "forger")
}

func rejectedCounts(h *harness) map[string]float64 {
	m := map[string]float64{}
	for reason, c := range h.r.m.rejected {
		m[reason] = testutil.ToFloat64(c)
	}
	return m
}

// TestV3Refusals sends real snmptrap v3 traps, some as they are and some
// with one byte of msgGlobalData changed, and checks each is refused for
// its reason and counted, only that reason's counter moves, nothing is
// published, and the receiver still takes the next good trap. One worker,
// so packets are handled in the order sent.
func TestV3Refusals(t *testing.T) {
	h := start(t, Config{Users: securityUsers, Workers: 1})
	recv, err := net.Dial("udp", h.r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	cfg := Config{Users: securityUsers}
	cfg.setDefaults()
	plain, err := newDecoder(&cfg) // for gosnmp's own verdict on the forgeries
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "wrongpass99"
	tests := []struct {
		name   string
		args   []string
		edit   func(*v3GlobalData) // nil: sent as snmptrap made it
		reason string              // "": accepted
		// gosnmpAccepts: gosnmp's UnmarshalTrap alone (the receiver before
		// this check) decodes the forgery, so the test is of something real.
		gosnmpAccepts bool
	}{
		{name: "authPriv wrong auth passphrase, model 4", args: v3Args("unyo", "authPriv", "SHA", wrong, "AES", privPass),
			edit: setModel(4), reason: "security_model", gosnmpAccepts: true},
		{name: "authNoPriv wrong passphrase, model 1", args: v3Args("watcher", "authNoPriv", "SHA256", wrong, "", ""),
			edit: setModel(1), reason: "security_model", gosnmpAccepts: true},
		{name: "right passphrases, model 0", args: v3Args("unyo", "authPriv", "SHA", authPass, "AES", privPass),
			edit: setModel(0), reason: "security_model"},
		{name: "right passphrases, model 2", args: v3Args("unyo", "authPriv", "SHA", authPass, "AES", privPass),
			edit: setModel(2), reason: "security_model"},
		{name: "right passphrases, model 99", args: v3Args("watcher", "authNoPriv", "SHA256", watchPass, "", ""),
			edit: setModel(99), reason: "security_model"},
		{name: "unknown user", args: v3Args("mallory", "authPriv", "SHA", authPass, "AES", privPass), reason: "unknown_user"},
		{name: "bad auth digest", args: v3Args("unyo", "authPriv", "SHA", wrong, "AES", privPass), reason: "auth"},
		{name: "bad auth digest authNoPriv", args: v3Args("watcher", "authNoPriv", "SHA256", wrong, "", ""), reason: "auth"},
		{name: "wrong auth protocol", args: v3Args("watcher", "authNoPriv", "SHA", watchPass, "", ""), reason: "auth"},
		{name: "wrong priv passphrase", args: v3Args("unyo", "authPriv", "SHA", authPass, "AES", wrong), reason: "decrypt"},
		{name: "authNoPriv for an authPriv user", args: v3Args("unyo", "authNoPriv", "SHA", authPass, "", ""), reason: "level"},
		{name: "noAuthNoPriv for an authPriv user", args: v3Args("unyo", "noAuthNoPriv", "", "", "", ""), reason: "level"},
		{name: "noAuthNoPriv for an authNoPriv user", args: v3Args("watcher", "noAuthNoPriv", "", "", "", ""), reason: "level"},
		{name: "authPriv downgraded to authNoPriv in msgFlags", args: v3Args("unyo", "authPriv", "SHA", authPass, "AES", privPass),
			edit: setLevel(1), reason: "level"},
		{name: "privacy without authentication in msgFlags", args: v3Args("watcher", "authNoPriv", "SHA256", watchPass, "", ""),
			edit: setLevel(2), reason: "level"},
		{name: "msgFlags downgraded for a relaxed user fails the digest", args: v3Args("relaxed", "authPriv", "SHA", relaxedPass, "AES", relaxedPass),
			edit: setLevel(1), reason: "auth"},
		{name: "relaxed user authNoPriv accepted", args: v3Args("relaxed", "authNoPriv", "SHA", relaxedPass, "", "")},
		{name: "relaxed user authPriv accepted", args: v3Args("relaxed", "authPriv", "SHA", relaxedPass, "AES", relaxedPass)},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkt := captureTrap(t, tt.args...)
			if tt.edit != nil {
				pkt = rewriteGlobal(t, pkt, tt.edit)
			}
			if tt.gosnmpAccepts {
				if p, err := unmarshalGuarded(plain.v3, pkt); err != nil || p == nil {
					t.Fatalf("gosnmp alone refuses the forgery (%v): the test no longer shows the bypass", err)
				}
			}
			before := rejectedCounts(h)
			if _, err := recv.Write(pkt); err != nil {
				t.Fatal(err)
			}
			if tt.reason == "" {
				if ev := h.next(t); ev.Labels["version"] != "v3" || ev.Labels["user"] != "relaxed" {
					t.Fatalf("event %+v", ev)
				}
				if after := rejectedCounts(h); !equalCounts(before, after) {
					t.Fatalf("refusals moved: %v -> %v", before, after)
				}
				return
			}
			eventually(t, "rejected{reason="+tt.reason+"}", func() bool {
				return testutil.ToFloat64(h.r.m.rejected[tt.reason]) == before[tt.reason]+1
			})
			after := rejectedCounts(h)
			after[tt.reason]--
			if !equalCounts(before, after) {
				t.Fatalf("other reasons moved: %v -> %v", before, after)
			}
			// The refusal was handled before this good trap is sent, and one
			// worker publishes in order: the next event must be this one.
			marker := "after-" + strings.ReplaceAll(tt.name, " ", "-")
			snmp(t, "snmptrap", "-v", "2c", "-c", "public", "127.0.0.1:"+h.port, "", "1.3.6.1.4.1.99999.0.1",
				"1.3.6.1.4.1.99999.1", "s", marker)
			if ev := h.next(t); !strings.Contains(ev.Message, marker) {
				t.Fatalf("case %d: event %+v published, want the good trap after the refused one", i, ev)
			}
		})
	}
	if n := testutil.ToFloat64(h.r.m.decodeErrors[2]); n != 0 {
		t.Errorf("v3 decode errors %v: every case is a refusal with a reason", n)
	}
}

func equalCounts(a, b map[string]float64) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestAllowSources: with allow_sources, traps from elsewhere are refused
// before decoding, whatever their version; the listed sources still get
// through. snmptrap sends from 127.0.0.1 or, with --clientaddr, 127.0.0.2.
func TestAllowSources(t *testing.T) {
	h := start(t, Config{AllowSources: []string{"127.0.0.2", "10.0.0.0/8"}, Workers: 1})
	dst := "127.0.0.1:" + h.port
	v2 := []string{"-v", "2c", "-c", "public", dst, "", "1.3.6.1.6.3.1.1.5.1"}
	v3 := []string{"-v", "3", "-e", engineID, "-u", "unyo", "-l", "authPriv", "-a", "SHA", "-A", authPass, "-x", "AES", "-X", privPass,
		dst, "", "1.3.6.1.6.3.1.1.5.1"}
	v1 := []string{"-v", "1", "-c", "public", dst, "1.3.6.1.4.1.8072.3.2.10", "127.0.0.1", "0", "0", ""}
	for i, args := range [][]string{v2, v1, v3} {
		snmp(t, "snmptrap", args...)
		eventually(t, "rejected{reason=source}", func() bool { return testutil.ToFloat64(h.r.m.rejected["source"]) == float64(i+1) })
	}
	for _, args := range [][]string{v2, v1, v3} {
		snmp(t, "snmptrap", append([]string{"--clientaddr=127.0.0.2"}, args...)...)
		if ev := h.next(t); ev.Check != "restart" || ev.Target != "127.0.0.2" {
			t.Fatalf("event from an allowed source %+v", ev)
		}
	}
	if n := testutil.ToFloat64(h.r.m.rejected["source"]); n != 3 {
		t.Fatalf("rejected{source} = %v, want 3", n)
	}
	var decodeErrs float64
	for _, c := range h.r.m.decodeErrors {
		decodeErrs += testutil.ToFloat64(c)
	}
	if p := testutil.ToFloat64(h.r.m.packets); p != 6 || decodeErrs != 0 {
		t.Fatalf("packets %v, decode errors %v", p, decodeErrs)
	}
}

func TestSourceSet(t *testing.T) {
	s, err := newSourceSet([]string{"127.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{
		"127.0.0.1": true, "::ffff:127.0.0.1": true, "127.0.0.2": false, "10.255.1.2": true, "11.0.0.1": false,
		"2001:db8:1::5": true, "2001:db9::1": false, "::1": true, "192.0.2.1": false,
	} {
		if got := s.allows(netip.MustParseAddr(a)); got != want {
			t.Errorf("allows(%s) = %v, want %v", a, got, want)
		}
	}
	if !(sourceSet(nil)).allows(netip.MustParseAddr("192.0.2.1")) {
		t.Error("an empty allow_sources must allow any address")
	}
}

// TestRefusalLogs: refusals log at warn once per reason per interval
// (then at debug), and no log line holds a passphrase or a community.
func TestRefusalLogs(t *testing.T) {
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(Config{Listen: "127.0.0.1:0", Users: testUsers, Communities: []Secret{"s3cret-community"}, Workers: 1},
		make(chanSink, 10), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	c, _ := net.Dial("udp", r.Addr().String())
	defer c.Close()
	forged := rewriteGlobal(t, captureTrap(t, v3Args("unyo", "authPriv", "SHA", "wrongpass99", "AES", privPass)...), setModel(4))
	for range 3 {
		c.Write(forged)
	}
	eventually(t, "3 refusals", func() bool { return testutil.ToFloat64(r.m.rejected["security_model"]) == 3 })
	snmp(t, "snmptrap", "-v", "2c", "-c", "guessed-community", r.Addr().String(), "", "1.3.6.1.6.3.1.1.5.1")
	eventually(t, "community refusal", func() bool { return testutil.ToFloat64(r.m.rejected["community"]) == 1 })
	out := logs.String()
	lines := func(level, reason string) int {
		n := 0
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "level="+level+" ") && strings.Contains(l, `msg="trap refused"`) && strings.Contains(l, " reason="+reason+" ") {
				n++
			}
		}
		return n
	}
	warn, debug := lines("WARN", "security_model"), lines("DEBUG", "security_model")
	if warn != 1 || debug != 2 {
		t.Errorf("security_model: %d warn and %d debug lines, want 1 and 2:\n%s", warn, debug, out)
	}
	if n := lines("WARN", "community"); n != 1 {
		t.Errorf("community: %d warn lines, want 1", n)
	}
	for _, secret := range []string{authPass, privPass, watchPass, "wrongpass99", "s3cret-community", "guessed-community"} {
		if strings.Contains(out, secret) {
			t.Errorf("log holds %q:\n%s", secret, out)
		}
	}
}

func TestMinLevel(t *testing.T) {
	for _, tt := range []struct {
		u    User
		want int
		err  string
	}{
		{User{PrivProtocol: "AES"}, levelAuthPriv, ""},
		{User{}, levelAuthNoPriv, ""},
		{User{PrivProtocol: "AES", MinLevel: "authNoPriv"}, levelAuthNoPriv, ""},
		{User{PrivProtocol: "AES", MinLevel: "AUTHPRIV"}, levelAuthPriv, ""},
		{User{MinLevel: "authPriv"}, 0, `"authPriv" needs priv_protocol`},
		{User{MinLevel: "noAuthNoPriv"}, 0, "never accepted"},
		{User{MinLevel: "high"}, 0, "want authNoPriv or authPriv"},
	} {
		got, err := tt.u.minLevel()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%+v: err %v, want %q", tt.u, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%+v: %d, %v; want %d", tt.u, got, err, tt.want)
		}
	}
}

// TestParseV3Header reads the captured packets and checks the fields
// against encoding/asn1's reading of the same bytes.
func TestParseV3Header(t *testing.T) {
	for _, f := range []string{"v3-authpriv-coldstart.bin", "v3-authnopriv-linkup.bin"} {
		b, err := os.ReadFile(filepath.Join("testdata/packets", f))
		if err != nil {
			t.Fatal(err)
		}
		h, err := parseV3Header(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var m v3Message
		var g v3GlobalData
		if _, err := asn1.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if _, err := asn1.Unmarshal(m.Global.FullBytes, &g); err != nil {
			t.Fatal(err)
		}
		if h.model != int64(g.Model) || h.flags != g.Flags[0] || b[h.modelOff] != byte(g.Model) {
			t.Errorf("%s: model %d at %d, flags %#x; asn1 says %d, %#x", f, h.model, h.modelOff, h.flags, g.Model, g.Flags[0])
		}
		if (string(h.user) != "unyo" && string(h.user) != "watcher") || h.authLen == 0 || h.authOff+h.authLen > len(b) {
			t.Errorf("%s: user %q auth at %d+%d", f, h.user, h.authOff, h.authLen)
		}
	}
	for _, bad := range [][]byte{
		nil, {0x30}, {0x30, 0x80, 0x02, 0x01, 0x03, 0x00, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x03},
		{0x30, 0x03, 0x02, 0x01, 0x03, 0xff}, {0x30, 0x85, 0, 0, 0, 0, 3, 2, 1, 3},
	} {
		if _, err := parseV3Header(bad); err == nil {
			t.Errorf("parseV3Header(%x) succeeded", bad)
		}
	}
}

// FuzzV3Header: parseV3Header never panics, and what it returns lies
// inside the message.
func FuzzV3Header(f *testing.F) {
	files, _ := filepath.Glob("testdata/packets/v3-*.bin")
	for _, file := range files {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseV3Header(b)
		if err != nil {
			return
		}
		if h.modelOff <= 0 || h.modelOff >= len(b) {
			t.Fatalf("modelOff %d of %d", h.modelOff, len(b))
		}
		if h.model == 3 && (h.authOff < 0 || h.authOff+h.authLen > len(b) || len(h.user) > maxUserName || len(h.engineID) > maxEngineID) {
			t.Fatalf("header %+v outside %d bytes", h, len(b))
		}
	})
}
