// Package snmptest starts real net-snmp agents (snmpd) for tests: each on
// its own loopback UDP port with a generated snmpd.conf in a temporary
// directory, a v2c community "public" and a v3 authPriv user
// unyo / SHA "authpass123" / AES "privpass123". snmpd must be installed
// (Debian packages snmpd and snmp; `make test-deps` installs them): a test
// that cannot find it fails with that message rather than skipping.
package snmptest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
)

// V3 credentials of every agent.
const (
	Community = "public"
	User      = "unyo"
	AuthPass  = "authpass123"
	PrivPass  = "privpass123"
)

// Agent is a running snmpd.
type Agent struct {
	t       testing.TB
	Host    string
	Port    int
	dir     string
	netns   string
	cmd     *exec.Cmd
	stopped bool
}

// Options of an agent.
type Options struct {
	Host  string // address to listen on; default 127.0.0.1
	Port  int    // default: a free port
	NetNS string // run inside this network namespace (ip netns exec)
}

// Start starts an agent on 127.0.0.1 and a free port.
func Start(t testing.TB) *Agent { return StartWith(t, Options{}) }

// StartWith starts an agent with options and stops it when the test ends.
func StartWith(t testing.TB, o Options) *Agent {
	t.Helper()
	if _, err := exec.LookPath("snmpd"); err != nil {
		if _, err2 := os.Stat("/usr/sbin/snmpd"); err2 != nil {
			t.Fatalf("snmptest: snmpd not found: install Debian packages snmpd and snmp (apt-get install -y snmpd snmp, or make test-deps): %v", err)
		}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = FreeUDPPort(t)
	}
	from := "127.0.0.1"
	if o.Host != "127.0.0.1" {
		// A test host in a namespace is asked from the other end of its
		// veth pair.
		from = "default"
	}
	a := &Agent{t: t, Host: o.Host, Port: o.Port, dir: t.TempDir(), netns: o.NetNS}
	conf := fmt.Sprintf(`agentaddress udp:%s:%d
rocommunity %s %s
createUser %s SHA "%s" AES "%s"
rouser %s priv
sysLocation unyo test
sysContact unyo@example.invalid
`, o.Host, o.Port, Community, from, User, AuthPass, PrivPass, User)
	if err := os.WriteFile(filepath.Join(a.dir, "snmpd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	t.Cleanup(a.Stop)
	return a
}

func (a *Agent) start() {
	a.t.Helper()
	args := []string{"-f", "-Lf", filepath.Join(a.dir, "snmpd.log"), "-C", "-c", filepath.Join(a.dir, "snmpd.conf"), "-p", filepath.Join(a.dir, "snmpd.pid")}
	bin := "snmpd"
	if _, err := exec.LookPath(bin); err != nil {
		bin = "/usr/sbin/snmpd"
	}
	var cmd *exec.Cmd
	if a.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", a.netns, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	// Keep persistent state (engine boots, v3 user keys) out of /var/lib/snmp.
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(a.dir, "persist"), "MIBS=", "MIBDIRS="+a.dir)
	if err := cmd.Start(); err != nil {
		a.t.Fatalf("snmptest: start snmpd: %v", err)
	}
	a.cmd = cmd
	a.stopped = false
	if err := a.wait(10 * time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(a.dir, "snmpd.log"))
		a.Stop()
		a.t.Fatalf("snmptest: snmpd on %s:%d did not answer: %v\nlog:\n%s", a.Host, a.Port, err, log)
	}
}

func (a *Agent) wait(d time.Duration) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		g := &gosnmp.GoSNMP{Target: a.Host, Port: uint16(a.Port), Community: Community, Version: gosnmp.Version2c,
			Timeout: 200 * time.Millisecond, Retries: 0, Context: context.Background()}
		if err = g.Connect(); err == nil {
			_, err = g.Get([]string{".1.3.6.1.2.1.1.3.0"})
			g.Conn.Close()
			if err == nil {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// Addr is host:port.
func (a *Agent) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

// Stop kills the agent.
func (a *Agent) Stop() {
	if a.stopped || a.cmd == nil {
		return
	}
	a.stopped = true
	a.cmd.Process.Kill()
	a.cmd.Wait()
	if a.netns != "" {
		// ip netns exec forks snmpd as its child with exec, so killing the
		// process kills snmpd; nothing else to do.
		_ = a.netns
	}
}

// Restart stops the agent and starts it again on the same port: its
// sysUpTime starts from zero, as after a reboot.
func (a *Agent) Restart() {
	a.t.Helper()
	a.Stop()
	a.start()
}

// FreeUDPPort returns a UDP port on 127.0.0.1 nothing listens on (at the
// time of the call). Also useful as a dead device.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}
