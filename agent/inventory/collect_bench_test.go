package inventory

import (
	"encoding/json"
	"testing"
)

// BenchmarkCollect collects this machine's real inventory (gopsutil and
// the package manager's list, dpkg-query or rpm) and reports its size as
// the agent sends it (JSON), the packages in it and the time taken:
//
//	go test ./agent/inventory -run '^$' -bench BenchmarkCollect -benchtime 3x
func BenchmarkCollect(b *testing.B) {
	var size, pkgs int
	for i := 0; i < b.N; i++ {
		inv, err := Collect(b.Context(), Options{})
		if err != nil {
			b.Fatal(err)
		}
		data, err := json.Marshal(inv)
		if err != nil {
			b.Fatal(err)
		}
		size, pkgs = len(data), len(inv.Packages)
	}
	if pkgs == 0 {
		b.Log("no package manager here: the size is without packages")
	}
	b.ReportMetric(float64(size), "bytes/inventory")
	b.ReportMetric(float64(pkgs), "packages")
	if pkgs > 0 {
		b.ReportMetric(float64(size)/float64(pkgs), "bytes/package")
	}
}
