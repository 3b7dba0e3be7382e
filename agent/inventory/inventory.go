package inventory

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Bounds of an inventory (see Limit).
const (
	MaxPackages = 20000
	MaxItems    = 1000
	MaxString   = 256
)

// Inventory is one server's configuration at one time.
type Inventory struct {
	Collected time.Time `json:"collected"`
	HostID    string    `json:"host_id"`
	Hostname  string    `json:"hostname"`
	OS        OS        `json:"os"`
	CPUs      []CPU     `json:"cpus,omitempty"`
	// MemoryBytes is the total physical memory.
	MemoryBytes uint64 `json:"memory_bytes"`
	Disks       []Disk `json:"disks,omitempty"`
	NICs        []NIC  `json:"nics,omitempty"`
	// Serials are the DMI identifiers readable on this server (system
	// serial, product, vendor, board serial); those only root may read are
	// missing when the agent is not root.
	Serials   map[string]string `json:"serials,omitempty"`
	Packages  []Package         `json:"packages,omitempty"`
	Listening []Listen          `json:"listening,omitempty"`
	// Truncated lists what Limit cut.
	Truncated []string `json:"truncated,omitempty"`
}

// OS is the operating system and kernel.
type OS struct {
	Platform string `json:"platform"` // debian, rhel, …
	Family   string `json:"family"`
	Version  string `json:"version"`
	Kernel   string `json:"kernel"`
	Arch     string `json:"arch"`
}

// CPU is one CPU model and how many logical cores of it.
type CPU struct {
	Model string  `json:"model"`
	Cores int     `json:"cores"`
	MHz   float64 `json:"mhz,omitempty"`
}

// Disk is a mounted file system.
type Disk struct {
	Device     string `json:"device"`
	Mount      string `json:"mount"`
	FSType     string `json:"fstype"`
	TotalBytes uint64 `json:"total_bytes"`
	Serial     string `json:"serial,omitempty"`
}

// NIC is a network interface.
type NIC struct {
	Name  string   `json:"name"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu,omitempty"`
	Addrs []string `json:"addrs,omitempty"`
}

// Package is an installed package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
}

// Listen is a listening socket.
type Listen struct {
	Proto   string `json:"proto"` // tcp, tcp6, udp, udp6
	Addr    string `json:"addr"`
	Port    uint32 `json:"port"`
	Process string `json:"process,omitempty"`
}

func cut(s string) string {
	if len(s) <= MaxString {
		return s
	}
	s = s[:MaxString]
	for len(s) > 0 && !utf8Valid(s) {
		s = s[:len(s)-1]
	}
	return s
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

// Limit bounds inv in place (see the package doc) and sorts its lists, so
// that two collections of the same server compare equal.
func (inv *Inventory) Limit() {
	inv.HostID, inv.Hostname = cut(inv.HostID), cut(inv.Hostname)
	inv.OS = OS{cut(inv.OS.Platform), cut(inv.OS.Family), cut(inv.OS.Version), cut(inv.OS.Kernel), cut(inv.OS.Arch)}
	trunc := func(what string, n, max int) int {
		if n > max {
			inv.Truncated = append(inv.Truncated, fmt.Sprintf("%s: %d of %d kept", what, max, n))
			return max
		}
		return n
	}
	for i := range inv.Packages {
		p := &inv.Packages[i]
		p.Name, p.Version, p.Arch = cut(p.Name), cut(p.Version), cut(p.Arch)
	}
	slices.SortFunc(inv.Packages, func(a, b Package) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch), cmp.Compare(a.Version, b.Version))
	})
	inv.Packages = inv.Packages[:trunc("packages", len(inv.Packages), MaxPackages)]
	for i := range inv.CPUs {
		inv.CPUs[i].Model = cut(inv.CPUs[i].Model)
	}
	inv.CPUs = inv.CPUs[:trunc("cpus", len(inv.CPUs), MaxItems)]
	for i := range inv.Disks {
		d := &inv.Disks[i]
		d.Device, d.Mount, d.FSType, d.Serial = cut(d.Device), cut(d.Mount), cut(d.FSType), cut(d.Serial)
	}
	slices.SortFunc(inv.Disks, func(a, b Disk) int { return cmp.Compare(a.Mount, b.Mount) })
	inv.Disks = inv.Disks[:trunc("disks", len(inv.Disks), MaxItems)]
	for i := range inv.NICs {
		n := &inv.NICs[i]
		n.Name, n.MAC = cut(n.Name), cut(n.MAC)
		if len(n.Addrs) > 64 {
			n.Addrs = n.Addrs[:64]
		}
		for j := range n.Addrs {
			n.Addrs[j] = cut(n.Addrs[j])
		}
		slices.Sort(n.Addrs)
	}
	slices.SortFunc(inv.NICs, func(a, b NIC) int { return cmp.Compare(a.Name, b.Name) })
	inv.NICs = inv.NICs[:trunc("nics", len(inv.NICs), MaxItems)]
	for i := range inv.Listening {
		l := &inv.Listening[i]
		l.Proto, l.Addr, l.Process = cut(l.Proto), cut(l.Addr), cut(l.Process)
	}
	slices.SortFunc(inv.Listening, func(a, b Listen) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.Port, b.Port))
	})
	inv.Listening = slices.CompactFunc(inv.Listening, func(a, b Listen) bool {
		return a.Proto == b.Proto && a.Addr == b.Addr && a.Port == b.Port
	})
	inv.Listening = inv.Listening[:trunc("listening", len(inv.Listening), MaxItems)]
	if len(inv.Serials) > 32 {
		inv.Serials = nil
		inv.Truncated = append(inv.Truncated, "serials: dropped (more than 32)")
	}
	for k, v := range inv.Serials {
		inv.Serials[k] = cut(v)
	}
}

// Hash is the SHA-256 of the inventory's content (not its collection
// time): equal hashes, nothing changed.
func (inv Inventory) Hash() string {
	inv.Collected = time.Time{}
	b, _ := json.Marshal(inv)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ParsePackages reads a package manager's list, one package a line as
// "name<TAB>version[<TAB>arch]" (dpkg-query -W -f, rpm -qa --qf). Blank
// lines are skipped; a line without a version is an error naming it.
func ParsePackages(out []byte) ([]Package, error) {
	var pkgs []Package
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 2 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("package list line %d: want name<TAB>version[<TAB>arch], got %q", n, cut(line))
		}
		p := Package{Name: f[0], Version: f[1]}
		if len(f) > 2 {
			p.Arch = f[2]
		}
		if len(pkgs) >= MaxPackages*2 {
			return nil, fmt.Errorf("package list: more than %d packages", MaxPackages*2)
		}
		pkgs = append(pkgs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("package list: %w", err)
	}
	return pkgs, nil
}
