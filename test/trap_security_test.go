package test

import (
	"context"
	"encoding/asn1"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/monitor/snmp/snmptest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestForgedV3TrapRefused: the real binary with an SNMPv3 trap user
// (authPriv). A real snmptrap v3 linkDown signed with a wrong
// authentication passphrase, its msgSecurityModel changed from 3 to 4 (the
// one byte found by BER-decoding msgGlobalData), is refused: logged,
// counted in unyo_trap_rejected_total{reason="security_model"}, no
// incident, no passphrase in the log. The same user's genuine coldStart,
// sent after it, opens one.
func TestForgedV3TrapRefused(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("snmptrap"); err != nil {
		t.Fatalf("snmptrap not found: run make test-deps (Debian package snmp): %v", err)
	}
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	trapPort := snmptest.FreeUDPPort(t)
	p := serveYAML(t, dir, addr, fmt.Sprintf(`node:
  name: e2e-traps
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
monitor:
  traps:
    listen: 127.0.0.1:%d
    users:
      - {name: unyo, auth_protocol: SHA, auth_passphrase: authpass123, priv_protocol: AES, priv_passphrase: privpass123}
    targets: {127.0.0.1: trap-agent}
`, dir, addr, trapPort))
	v3 := func(authPass, dst, oid string, vars ...string) []string {
		return append([]string{"-v", "3", "-e", "0x8000000001020304", "-u", "unyo", "-l", "authPriv", "-a", "SHA", "-A", authPass,
			"-x", "AES", "-X", "privpass123", dst, "", oid}, vars...)
	}

	forged := forgeSecurityModel(t, captureSnmptrap(t, func(dst string) []string {
		return v3("wrongpass99", dst, "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7")
	}), 4)
	conn, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(trapPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(forged); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged trap refused in the log", func() bool {
		return strings.Contains(p.Log(), "trap refused") && strings.Contains(p.Log(), "security_model")
	})

	for _, secret := range []string{"authpass123", "privpass123", "wrongpass99"} {
		if strings.Contains(p.Log(), secret) {
			t.Errorf("the log holds %q", secret)
		}
	}

	c := testutil.Client(t, p.URL)
	ctx := context.Background()
	hasIncident := func(check string) bool {
		incs, err := c.Incidents(ctx, client.ListOptions{Target: "trap-agent", Limit: 100})
		if err != nil {
			t.Fatalf("incidents: %v", err)
		}
		for _, inc := range incs {
			if inc.Check == check {
				return true
			}
		}
		return false
	}
	runSnmptrap(t, v3("authpass123", "127.0.0.1:"+strconv.Itoa(trapPort), "1.3.6.1.6.3.1.1.5.1")...)
	waitFor(t, "the genuine coldStart incident", func() bool { return hasIncident("restart") })
	if hasIncident("link") {
		t.Fatal("the forged linkDown opened an incident")
	}
	resp, err := testutil.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `unyo_trap_rejected_total{reason="security_model"} 1`) {
		t.Fatalf("/metrics %d without unyo_trap_rejected_total{reason=\"security_model\"} 1:\n%s", resp.StatusCode, grepLines(string(body), "unyo_trap_"))
	}
}

// runSnmptrap runs net-snmp's snmptrap with numeric OIDs and no state or
// configuration from the machine.
func runSnmptrap(t *testing.T, args ...string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "snmptrap", args...)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+dir, "SNMPCONFPATH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("snmptrap %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// captureSnmptrap runs snmptrap towards a UDP socket of the test's own and
// returns the datagram.
func captureSnmptrap(t *testing.T, args func(dst string) []string) []byte {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	runSnmptrap(t, args(pc.LocalAddr().String())...)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65536)
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no datagram from snmptrap: %v", err)
	}
	return buf[:n]
}

// forgeSecurityModel BER-decodes an SNMPv3 message (RFC 3412 section 6),
// sets msgGlobalData.msgSecurityModel to model and encodes it again; it
// checks that exactly one byte changed.
func forgeSecurityModel(t *testing.T, b []byte, model int) []byte {
	t.Helper()
	var m struct {
		Version                 int
		Global, SecParams, Data asn1.RawValue
	}
	if rest, err := asn1.Unmarshal(b, &m); err != nil || len(rest) != 0 || m.Version != 3 {
		t.Fatalf("not an SNMPv3 message: %v", err)
	}
	var g struct {
		ID, MaxSize int
		Flags       []byte
		Model       int
	}
	if _, err := asn1.Unmarshal(m.Global.FullBytes, &g); err != nil || g.Model != 3 {
		t.Fatalf("msgGlobalData: %v (model %d)", err, g.Model)
	}
	g.Model = model
	gb, err := asn1.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	m.Global = asn1.RawValue{FullBytes: gb}
	out, err := asn1.Marshal(m)
	if err != nil || len(out) != len(b) {
		t.Fatalf("re-encoding: %v (%d bytes, was %d)", err, len(out), len(b))
	}
	diff := 0
	for i := range b {
		if b[i] != out[i] {
			diff++
		}
	}
	if diff != 1 {
		t.Fatalf("%d bytes changed, want 1", diff)
	}
	return out
}
