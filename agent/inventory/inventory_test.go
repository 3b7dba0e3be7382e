package inventory

import (
	"strings"
	"testing"
)

func TestDiffPackages(t *testing.T) {
	old := Inventory{Packages: []Package{{Name: "openssl", Version: "3.0.1"}, {Name: "gone", Version: "1"}}}
	new := Inventory{Packages: []Package{{Name: "openssl", Version: "3.0.2"}, {Name: "added", Version: "2"}}}
	var got []string
	for _, c := range Diff(old, new) {
		got = append(got, c.String())
	}
	want := "package added added 2|package gone removed (was 1)|package openssl changed 3.0.1 -> 3.0.2"
	if strings.Join(got, "|") != want {
		t.Errorf("Diff = %q, want %q", strings.Join(got, "|"), want)
	}
	if old.Hash() == new.Hash() {
		t.Error("different inventories, same hash")
	}
}

func FuzzParsePackages(f *testing.F) {
	f.Add([]byte("openssl\t3.0.1\tamd64\nbash\t5.2\n\n"))
	f.Add([]byte("broken line\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pkgs, err := ParsePackages(data)
		if err != nil {
			return
		}
		inv := Inventory{Packages: pkgs}
		inv.Limit()
		if len(inv.Packages) > MaxPackages {
			t.Fatalf("%d packages kept", len(inv.Packages))
		}
		for _, p := range inv.Packages {
			if p.Name == "" || p.Version == "" || len(p.Name) > MaxString {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}
