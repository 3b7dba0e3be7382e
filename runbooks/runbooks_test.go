package runbooks_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/runbooks"
)

// The ids other parts of unyo (backups, drills, the platform's own
// faults) raise incidents with.
var wantIDs = []string{"host-down", "link-down", "disk-full", "job-abended", "backup-failed", "backup-too-old",
	"drill-failed", "notifier-failing", "node-lost", "quorum-lost", "ledger-unreachable", "agent-down"}

// TestBuiltins: every built-in parses, has every required section (Parse
// checks), and the ids the platform names exist.
func TestBuiltins(t *testing.T) {
	s := runbooks.Builtin()
	for _, id := range wantIDs {
		rb, err := s.Get(id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if rb.Source != "builtin" || rb.Title == "" || !strings.Contains(rb.Markdown, "## Verification") {
			t.Errorf("%s: %+v", id, rb)
		}
	}
	if l := s.List(); len(l) < len(wantIDs) || l[0].Markdown != "" {
		t.Errorf("List: %d runbooks", len(l))
	}
	if _, err := s.Get("nope"); !errors.Is(err, runbooks.ErrNotFound) {
		t.Errorf("Get(nope): %v", err)
	}
}

const good = `---
id: site-db
title: Site DB failover (DB切替)
severity: critical
---
# Site DB
## Symptoms
x
## First isolation steps
## Escalation
## Recovery
## Verification
`

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"no front matter", "# x\n", "f.md:1: want front matter"},
		{"not closed", "---\nid: a\n", "front matter not closed"},
		{"unknown key", "---\nid: a\nowner: me\n---\n", `f.md:3: front matter: unknown key "owner"`},
		{"bad id", strings.Replace(good, "site-db", "Site DB", 1), `id "Site DB"`},
		{"bad severity", strings.Replace(good, "critical", "urgent", 1), `severity "urgent"`},
		{"missing section", strings.Replace(good, "## Recovery\n", "", 1), "lacks the section(s) Recovery"},
		{"too big", good + strings.Repeat("x", runbooks.MaxFileBytes), "bytes, at most"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := runbooks.Parse("f.md", []byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	if rb, err := runbooks.Parse("f.md", []byte(good)); err != nil || rb.ID != "site-db" || rb.Severity != "critical" {
		t.Errorf("good: %+v %v", rb, err)
	}
}

// TestSiteDir: a site runbook overrides a built-in and adds a new one; a
// bad file is an error naming it.
func TestSiteDir(t *testing.T) {
	dir := t.TempDir()
	override := strings.Replace(strings.Replace(good, "site-db", "disk-full", 1), "Site DB failover (DB切替)", "Our disk procedure", 1)
	os.WriteFile(filepath.Join(dir, "disk.md"), []byte(override), 0o600)
	os.WriteFile(filepath.Join(dir, "db.md"), []byte(good), 0o600)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o600)
	s, err := runbooks.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if rb, _ := s.Get("disk-full"); rb.Title != "Our disk procedure" || rb.Source != filepath.Join(dir, "disk.md") {
		t.Errorf("override: %+v", rb)
	}
	if !s.Has("site-db") || !s.Has("host-down") {
		t.Error("site runbook or built-ins missing")
	}
	if err := s.Check("site-db"); err != nil {
		t.Error(err)
	}
	if err := s.Check("https://wiki.example/rb/1"); err != nil {
		t.Error(err)
	}
	if err := s.Check("RB-NOPE"); err == nil || !strings.Contains(err.Error(), `unknown runbook "RB-NOPE"`) {
		t.Errorf("Check(RB-NOPE): %v", err)
	}
	os.WriteFile(filepath.Join(dir, "dup.md"), []byte(good), 0o600)
	if _, err := runbooks.Load(dir); err == nil || !strings.Contains(err.Error(), "dup.md") && !strings.Contains(err.Error(), "db.md") {
		t.Errorf("duplicate id: %v", err)
	}
	if _, err := runbooks.Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "runbooks.dir") {
		t.Errorf("missing dir: %v", err)
	}
}

// TestHTMLEscapes: markup in a runbook is text, never HTML.
func TestHTMLEscapes(t *testing.T) {
	h := string(runbooks.HTML("# T <script>alert(1)</script>\n\n- a `<b>` **bold**\n- [x](javascript:alert(1))\n\n```\n<img src=x onerror=alert(1)>\n```\npara & <i>\n"))
	for _, bad := range []string{"<script", "<img", "<i>", `href=`} {
		if strings.Contains(h, bad) {
			t.Errorf("rendered %q:\n%s", bad, h)
		}
	}
	for _, want := range []string{"<h1>T &lt;script&gt;", "<code>&lt;b&gt;</code>", "<b>bold</b>", "<ul><li>", "<pre><code>&lt;img", "<p>para &amp; &lt;i&gt;</p>"} {
		if !strings.Contains(h, want) {
			t.Errorf("lacks %q:\n%s", want, h)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rb, err := runbooks.Parse("f.md", b)
		if err == nil && (!runbooks.ValidID(rb.ID) || rb.Title == "") {
			t.Fatalf("accepted %+v", rb)
		}
	})
}

func FuzzHTML(f *testing.F) {
	f.Add(good)
	f.Add("- a\n  b\n1. c\n```\nx")
	f.Fuzz(func(t *testing.T, md string) {
		h := string(runbooks.HTML(md))
		// Only our tags: every '<' starts one of them.
		for i := 0; i < len(h); i++ {
			if h[i] != '<' {
				continue
			}
			ok := false
			for _, tag := range []string{"<h1>", "<h2>", "<h3>", "<h4>", "<h5>", "<h6>", "</h", "<p>", "</p>", "<ul>", "</ul>", "<ol>", "</ol>",
				"<li>", "</li>", "<pre>", "</pre>", "<code>", "</code>", "<b>", "</b>"} {
				if strings.HasPrefix(h[i:], tag) {
					ok = true
					break
				}
			}
			if !ok {
				t.Fatalf("stray tag at %d in %q", i, h)
			}
		}
	})
}

// TestConfigsReferenceKnownRunbooks: every runbook id written in the
// example configurations (configs/*.yaml) is a built-in runbook.
func TestConfigsReferenceKnownRunbooks(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no configs/*.yaml")
	}
	re := regexp.MustCompile(`runbook:\s*"?([^"\s,}#]+)`)
	s := runbooks.Builtin()
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			n++
			if err := s.Check(m[1]); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	if n == 0 {
		t.Error("the example configurations name no runbook")
	}
}
