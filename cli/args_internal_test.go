package cli

import (
	"io"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	for in, want := range map[string]string{
		"serve -config f.yaml":                    "serve --config f.yaml",
		"config check -print f.yaml":              "config check --print f.yaml",
		"incident list --o json -state=open":      "incident list -o json --state=open",
		"incident list -o json":                   "incident list -o json",
		"event send --message -target --check c":  "event send --message -target --check c",
		"incident show -- -server":                "incident show -- -server",
		"incident show -help":                     "incident show --help",
		"incident list -bogus":                    "incident list -bogus",
		"cluster status -to n2":                   "cluster status -to n2",
		"cluster transfer-leadership -to n2":      "cluster transfer-leadership --to n2",
		"event send -ok -target t":                "event send --ok --target t",
		"jobnet run nightly -param a=1 -param=b=": "jobnet run nightly --param a=1 --param=b=",
	} {
		got := strings.Join(normalizeArgs(newRoot(env), strings.Fields(in)), " ")
		if got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// FuzzNormalizeArgs: any arguments are rewritten without a panic, one for
// one, and nothing after "--" changes.
func FuzzNormalizeArgs(f *testing.F) {
	for _, s := range []string{"serve -config f", "incident list --o json", "event send --message -x -- -y", "-", "--", "---x", "-=", "--=a"} {
		f.Add(s)
	}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	root := newRoot(env)
	f.Fuzz(func(t *testing.T, s string) {
		in := strings.Split(s, " ")
		got := normalizeArgs(root, append([]string{}, in...))
		if len(got) != len(in) {
			t.Fatalf("%q → %q", in, got)
		}
		for i := range in {
			if in[i] == "--" {
				if strings.Join(in[i:], " ") != strings.Join(got[i:], " ") {
					t.Fatalf("after --: %q → %q", in, got)
				}
				break
			}
			if got[i] != in[i] && got[i] != "-"+in[i] && "-"+got[i] != in[i] {
				t.Fatalf("%q became %q", in[i], got[i])
			}
		}
	})
}

// TestAlignCells: columns line up by the width a terminal gives each
// character, Japanese (wide) ones taking two (issue 17 item 10).
func TestAlignCells(t *testing.T) {
	got := alignCells("NAME\tSTATE\tX\n東京-db01\tup\t1\nweb01\tDOWN\t2\n")
	want := "NAME       STATE  X\n東京-db01  up     1\nweb01      DOWN   2\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		if w := displayWidth(l[:strings.LastIndex(l, " ")+1]); w != 18 {
			t.Errorf("line %q: the last column starts at column %d, want 18", l, w)
		}
	}
}

func FuzzAlignCells(f *testing.F) {
	f.Add("a\tb\n東京\tc\n")
	f.Add("\t\t\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		s = safeLines(strings.ReplaceAll(s, "\t", "\x00")) // as the cells reach a table
		s = strings.ReplaceAll(s, `\x00`, "\t")
		out := alignCells(s)
		if strings.Count(out, "\n") != strings.Count(s, "\n") {
			t.Fatalf("%q: %d lines, want %d", s, strings.Count(out, "\n"), strings.Count(s, "\n"))
		}
	})
}
