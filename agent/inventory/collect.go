package inventory

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/mem"
	gnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// Options of Collect.
type Options struct {
	// PackagesCommand lists the installed packages as
	// "name<TAB>version[<TAB>arch]" lines (argv). Empty: dpkg-query if
	// present, else rpm, else no packages.
	PackagesCommand []string
	// HostID overrides the host id (default /etc/machine-id, else the
	// host UUID gopsutil finds).
	HostID string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultPackageCommands are tried in order when Options.PackagesCommand
// is empty.
var DefaultPackageCommands = [][]string{
	{"dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\n"},
	{"rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n"},
}

// Collect gathers this server's inventory. What cannot be read (a
// serial only root may read, a listening socket's process) is left out;
// an error is returned only when the package command given fails.
func Collect(ctx context.Context, o Options) (Inventory, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	inv := Inventory{Collected: now().UTC()}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		inv.Hostname, inv.HostID = hi.Hostname, hi.HostID
		inv.OS = OS{Platform: hi.Platform, Family: hi.PlatformFamily, Version: hi.PlatformVersion, Kernel: hi.KernelVersion, Arch: hi.KernelArch}
	}
	if id := HostID(); id != "" {
		inv.HostID = id
	}
	if o.HostID != "" {
		inv.HostID = o.HostID
	}
	if cs, err := cpu.InfoWithContext(ctx); err == nil {
		byModel := map[string]int{}
		var order []string
		mhz := map[string]float64{}
		for _, c := range cs {
			if _, ok := byModel[c.ModelName]; !ok {
				order = append(order, c.ModelName)
			}
			byModel[c.ModelName] += max(int(c.Cores), 1)
			mhz[c.ModelName] = c.Mhz
		}
		for _, m := range order {
			inv.CPUs = append(inv.CPUs, CPU{Model: m, Cores: byModel[m], MHz: mhz[m]})
		}
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		inv.MemoryBytes = vm.Total
	}
	if parts, err := disk.PartitionsWithContext(ctx, false); err == nil {
		for _, p := range parts {
			d := Disk{Device: p.Device, Mount: p.Mountpoint, FSType: p.Fstype}
			if u, err := disk.UsageWithContext(ctx, p.Mountpoint); err == nil {
				d.TotalBytes = u.Total
			}
			if strings.HasPrefix(p.Device, "/dev/") {
				d.Serial, _ = disk.SerialNumberWithContext(ctx, p.Device)
			}
			inv.Disks = append(inv.Disks, d)
		}
	}
	if ifs, err := gnet.InterfacesWithContext(ctx); err == nil {
		for _, i := range ifs {
			n := NIC{Name: i.Name, MAC: i.HardwareAddr, MTU: i.MTU}
			for _, a := range i.Addrs {
				n.Addrs = append(n.Addrs, a.Addr)
			}
			inv.NICs = append(inv.NICs, n)
		}
	}
	inv.Serials = dmi()
	inv.Listening = listening(ctx)
	pkgs, err := packages(ctx, o.PackagesCommand)
	if err != nil {
		return inv, err
	}
	inv.Packages = pkgs
	inv.Limit()
	return inv, nil
}

// HostID is /etc/machine-id (trimmed), or "".
func HostID() string {
	b, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func dmi() map[string]string {
	m := map[string]string{}
	for _, f := range []string{"product_serial", "product_name", "product_uuid", "sys_vendor", "board_serial", "chassis_serial", "bios_version"} {
		b, err := os.ReadFile(filepath.Join("/sys/class/dmi/id", f))
		if err != nil {
			continue // missing, or root only
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			m[f] = v
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func listening(ctx context.Context) []Listen {
	conns, err := gnet.ConnectionsWithContext(ctx, "inet")
	if err != nil {
		return nil
	}
	names := map[int32]string{}
	var out []Listen
	for _, c := range conns {
		udp := c.Type == 2 // SOCK_DGRAM
		if !udp && c.Status != "LISTEN" {
			continue
		}
		if udp && c.Raddr.IP != "" && c.Raddr.Port != 0 {
			continue
		}
		proto := "tcp"
		if udp {
			proto = "udp"
		}
		if c.Family == 10 { // AF_INET6
			proto += "6"
		}
		l := Listen{Proto: proto, Addr: c.Laddr.IP, Port: c.Laddr.Port}
		if c.Pid > 0 {
			n, ok := names[c.Pid]
			if !ok {
				if p, err := process.NewProcessWithContext(ctx, c.Pid); err == nil {
					n, _ = p.NameWithContext(ctx)
				}
				names[c.Pid] = n
			}
			l.Process = n
		}
		out = append(out, l)
	}
	return out
}

func packages(ctx context.Context, argv []string) ([]Package, error) {
	if len(argv) == 0 {
		for _, c := range DefaultPackageCommands {
			if _, err := exec.LookPath(c[0]); err == nil {
				argv = c
				break
			}
		}
		if len(argv) == 0 {
			return nil, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &limited{b: &out, n: 32 << 20}, &limited{b: &errb, n: 4 << 10}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("inventory: packages: %s: %w: %s", argv[0], err, strings.TrimSpace(errb.String()))
	}
	return ParsePackages(out.Bytes())
}

// limited keeps the first n bytes written and drops the rest.
type limited struct {
	b *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
