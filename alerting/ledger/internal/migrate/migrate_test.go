package migrate

import (
	"os"
	"testing"
	"testing/fstest"
)

// Both stores carry the same migrations (version and name): a schema
// change lands in both.
func TestStoresHaveTheSameMigrations(t *testing.T) {
	lite, err := Load(os.DirFS("../../sqlite"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	pg, err := Load(os.DirFS("../../postgres"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].Version != pg[i].Version || lite[i].Name != pg[i].Name {
			t.Errorf("migration %d: sqlite %04d_%s, postgres %04d_%s", i, lite[i].Version, lite[i].Name, pg[i].Version, pg[i].Name)
		}
	}
}

func TestLoadAndPending(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"bad name":  {"m/first.sql": {Data: []byte("x")}},
		"zero":      {"m/0000_a.sql": {Data: []byte("x")}},
		"duplicate": {"m/0001_a.sql": {Data: []byte("x")}, "m/01_b.sql": {Data: []byte("y")}},
	} {
		if _, err := Load(files, "m"); err == nil {
			t.Errorf("%s: Load succeeded", name)
		}
	}
	ms, err := Load(fstest.MapFS{"m/0003_c.sql": {Data: []byte("C")}, "m/0001_a.sql": {Data: []byte("A")}, "m/0002_b.sql": {Data: []byte("B")}}, "m")
	if err != nil || len(ms) != 3 || ms[0].Name != "a" || ms[2].SQL != "C" {
		t.Fatalf("Load = %+v, %v", ms, err)
	}
	p := Pending(ms, []int{2})
	if len(p) != 2 || p[0].Version != 1 || p[1].Version != 3 {
		t.Errorf("Pending = %+v", p)
	}
}
