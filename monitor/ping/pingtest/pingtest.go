// Package pingtest makes real test hosts for ping tests: a network
// namespace joined to the root namespace by a veth pair. Tests ping the
// namespace side and take the link down and up to make the host vanish and
// come back. It needs root (CAP_NET_ADMIN) and iproute2's ip command; a test
// that cannot create the host fails with a clear message instead of
// skipping.
package pingtest

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Host is a test host in its own network namespace.
type Host struct {
	t       testing.TB
	NS      string     // namespace name
	Link    string     // root-namespace side of the veth pair
	Addr    netip.Addr // address of the namespace side: ping this
	Local   netip.Addr // address of the root side
	nsLink  string
	prefix  string // the /30, blackholed under the link's route
	cleaned bool
}

// blackholeMetric ranks the blackhole route below the link's own (0).
const blackholeMetric = "4096"

// NewHost creates a namespace "unyo-t<rand>" with a veth pair addressed
// 10.231.<rand>.<4k+1 / 4k+2>/30 and removes it when the test ends.
func NewHost(t testing.TB) *Host {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("pingtest: the ip command (Debian package iproute2) is required: %v", err)
	}
	r := rand.Uint32()
	h := &Host{t: t, NS: fmt.Sprintf("unyo-t%08x", r)}
	h.Link = fmt.Sprintf("uv%06x", r&0xffffff)
	h.nsLink = fmt.Sprintf("un%06x", r&0xffffff)
	third := byte(r >> 8)
	fourth := byte(r%64) * 4
	h.Local = netip.AddrFrom4([4]byte{10, 231, third, fourth + 1})
	h.Addr = netip.AddrFrom4([4]byte{10, 231, third, fourth + 2})
	if out, err := exec.Command("ip", "netns", "add", h.NS).CombinedOutput(); err != nil {
		t.Fatalf("pingtest: ip netns add %s failed (needs root / CAP_NET_ADMIN and CAP_SYS_ADMIN): %v: %s", h.NS, err, out)
	}
	t.Cleanup(h.cleanup)
	h.run("ip", "link", "add", h.Link, "type", "veth", "peer", "name", h.nsLink)
	h.run("ip", "link", "set", h.nsLink, "netns", h.NS)
	// While the link is down its connected route is gone, and packets to
	// the host would follow the default route off the machine. A blackhole
	// route for the /30 below it (higher metric) keeps them here.
	h.prefix = netip.PrefixFrom(h.Local, 30).Masked().String()
	h.run("ip", "route", "add", "blackhole", h.prefix, "metric", blackholeMetric)
	h.run("ip", "addr", "add", h.Local.String()+"/30", "dev", h.Link)
	h.run("ip", "link", "set", h.Link, "up")
	h.run("ip", "-n", h.NS, "addr", "add", h.Addr.String()+"/30", "dev", h.nsLink)
	h.run("ip", "-n", h.NS, "link", "set", h.nsLink, "up")
	h.run("ip", "-n", h.NS, "link", "set", "lo", "up")
	return h
}

func (h *Host) run(args ...string) {
	h.t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("pingtest: %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Down takes the root side of the link down: the host stops answering, and
// packets to it are dropped here (blackhole route), never sent elsewhere.
func (h *Host) Down() { h.t.Helper(); h.run("ip", "link", "set", h.Link, "down") }

// Up brings the link back.
func (h *Host) Up() { h.t.Helper(); h.run("ip", "link", "set", h.Link, "up") }

func (h *Host) cleanup() {
	if h.cleaned {
		return
	}
	h.cleaned = true
	// Deleting the namespace deletes the veth pair with it.
	exec.Command("ip", "link", "del", h.Link).Run()
	if h.prefix != "" {
		if out, err := exec.Command("ip", "route", "del", "blackhole", h.prefix, "metric", blackholeMetric).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "pingtest: ip route del blackhole %s: %v: %s\n", h.prefix, err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "del", h.NS).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "pingtest: ip netns del %s: %v: %s\n", h.NS, err, out)
	}
}

// EnablePingSockets widens net.ipv4.ping_group_range to every group so
// unprivileged ICMP ping sockets work, and restores the old value when the
// test ends.
func EnablePingSockets(t testing.TB) {
	t.Helper()
	const path = "/proc/sys/net/ipv4/ping_group_range"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pingtest: read %s: %v", path, err)
	}
	if strings.Fields(string(old))[0] == "0" && strings.Fields(string(old))[1] == "2147483647" {
		return
	}
	if err := os.WriteFile(path, []byte("0 2147483647"), 0o644); err != nil {
		t.Fatalf("pingtest: sysctl -w net.ipv4.ping_group_range=\"0 2147483647\" failed (needs root): %v", err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0o644) })
}
