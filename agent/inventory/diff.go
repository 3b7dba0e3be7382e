package inventory

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Change is one difference between two inventories.
type Change struct {
	// Kind is what changed: package, os, kernel, memory, cpu, disk, nic,
	// listen, serial, hostname.
	Kind string `json:"kind"`
	// Item names it (a package name, a mount point, an interface…).
	Item string `json:"item"`
	From string `json:"from,omitempty"` // "" when added
	To   string `json:"to,omitempty"`   // "" when removed
}

// String reads "package openssl changed 3.0.1 -> 3.0.2".
func (c Change) String() string {
	switch {
	case c.From == "":
		return fmt.Sprintf("%s %s added %s", c.Kind, c.Item, c.To)
	case c.To == "":
		return fmt.Sprintf("%s %s removed (was %s)", c.Kind, c.Item, c.From)
	}
	return fmt.Sprintf("%s %s changed %s -> %s", c.Kind, c.Item, c.From, c.To)
}

// Diff lists what changed from old to new, in a stable order.
func Diff(old, new Inventory) []Change {
	var out []Change
	add := func(kind, item, from, to string) {
		if from != to {
			out = append(out, Change{Kind: kind, Item: item, From: from, To: to})
		}
	}
	add("hostname", "hostname", old.Hostname, new.Hostname)
	add("os", "os", osString(old.OS), osString(new.OS))
	add("kernel", "kernel", old.OS.Kernel, new.OS.Kernel)
	add("memory", "memory", bytesString(old.MemoryBytes), bytesString(new.MemoryBytes))
	out = append(out, diffMaps("cpu", cpus(old.CPUs), cpus(new.CPUs))...)
	out = append(out, diffMaps("serial", old.Serials, new.Serials)...)
	out = append(out, diffMaps("disk", disks(old.Disks), disks(new.Disks))...)
	out = append(out, diffMaps("nic", nics(old.NICs), nics(new.NICs))...)
	out = append(out, diffMaps("package", pkgs(old.Packages), pkgs(new.Packages))...)
	out = append(out, diffMaps("listen", listens(old.Listening), listens(new.Listening))...)
	return out
}

func diffMaps(kind string, a, b map[string]string) []Change {
	var out []Change
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			out = append(out, Change{Kind: kind, Item: k, From: a[k], To: b[k]})
		}
	}
	return out
}

func osString(o OS) string {
	if o == (OS{}) {
		return ""
	}
	return strings.TrimSpace(o.Platform + " " + o.Version + " " + o.Arch)
}

func bytesString(n uint64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

func cpus(cs []CPU) map[string]string {
	m := map[string]string{}
	for _, c := range cs {
		n := 0
		fmt.Sscan(m[c.Model], &n)
		m[c.Model] = fmt.Sprint(n + c.Cores)
	}
	return m
}

func disks(ds []Disk) map[string]string {
	m := map[string]string{}
	for _, d := range ds {
		m[d.Mount] = strings.TrimSpace(fmt.Sprintf("%s %s %s %s", d.Device, d.FSType, bytesString(d.TotalBytes), d.Serial))
	}
	return m
}

func nics(ns []NIC) map[string]string {
	m := map[string]string{}
	for _, n := range ns {
		m[n.Name] = strings.TrimSpace(n.MAC + " " + strings.Join(n.Addrs, ","))
	}
	return m
}

func pkgs(ps []Package) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		k := p.Name
		if p.Arch != "" {
			k += ":" + p.Arch
		}
		m[k] = p.Version
	}
	return m
}

func listens(ls []Listen) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		p := l.Process
		if p == "" {
			p = "listening"
		}
		m[fmt.Sprintf("%s %s:%d", l.Proto, l.Addr, l.Port)] = p
	}
	return m
}
