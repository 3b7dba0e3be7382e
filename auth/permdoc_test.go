package auth

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/permissions.md from the table")

// TestPermissionsDoc keeps docs/permissions.md equal to the table.
func TestPermissionsDoc(t *testing.T) {
	const path = "../docs/permissions.md"
	want := PermissionsMarkdown()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is not the permission table: run go test ./auth -run TestPermissionsDoc -update", path)
	}
}

// TestEveryActionHasAnAnswer: each action allows at least one role, and
// only known roles.
func TestEveryActionHasAnAnswer(t *testing.T) {
	for _, a := range Actions() {
		rs := RolesFor(a)
		if len(rs) == 0 {
			t.Errorf("%s: no role may do it", a)
		}
		for _, r := range rs {
			if !r.Valid() && r != RoleMember && r != RoleJoiner && r != RoleEnroller {
				t.Errorf("%s: unknown role %q", a, r)
			}
		}
	}
	if Allowed(RoleViewer, "no.such.action") || !Allowed("", Public) {
		t.Error("unknown actions must be refused and Public allowed")
	}
}
