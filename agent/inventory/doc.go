// Package inventory is what an agent reports about its server for
// configuration management (構成管理): hardware (CPU, memory, disks,
// NICs, serials where readable), OS and kernel, installed packages (the
// package manager's own list: dpkg-query or rpm -qa) and listening
// services. Collect gathers it (gopsutil); Diff says what changed between
// two inventories, one Change per item, which the node turns into events.
//
// An inventory is bounded: at most MaxPackages packages, MaxItems of each
// other list, each string cut to MaxString bytes (Limit).
package inventory
