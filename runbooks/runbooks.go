package runbooks

import (
	"bufio"
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

//go:embed builtin/*.md
var builtinFS embed.FS

// Limits of a runbook file and of a site directory.
const (
	MaxFileBytes = 256 << 10
	MaxFiles     = 500
)

// RequiredSections are the "## " headings every runbook has, in any order.
var RequiredSections = []string{"Symptoms", "First isolation steps", "Escalation", "Recovery", "Verification"}

// Severities a runbook's front matter may give.
var Severities = []string{"info", "minor", "warning", "major", "critical"}

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ErrNotFound: no runbook by that id.
var ErrNotFound = errors.New("no such runbook")

// Runbook is one parsed runbook.
type Runbook struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Severity string `json:"severity"`
	// Source is "builtin" or the site file it was read from.
	Source string `json:"source"`
	// Markdown is the body after the front matter.
	Markdown string `json:"markdown,omitempty"`
}

// ValidID reports whether id may name a runbook.
func ValidID(id string) bool { return idRE.MatchString(id) }

// IsURL reports whether a runbook reference is an outside http(s) link
// rather than an id.
func IsURL(ref string) bool {
	return strings.HasPrefix(ref, "https://") || strings.HasPrefix(ref, "http://")
}

// Error is a problem with one runbook file, at a line (0: the file).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// Parse reads one runbook file (name is used in errors).
func Parse(name string, data []byte) (Runbook, error) {
	bad := func(line int, f string, a ...any) (Runbook, error) {
		return Runbook{}, &Error{File: name, Line: line, Msg: fmt.Sprintf(f, a...)}
	}
	if len(data) > MaxFileBytes {
		return bad(0, "%d bytes, at most %d", len(data), MaxFileBytes)
	}
	if !utf8.Valid(data) {
		return bad(0, "not UTF-8")
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) != "---" {
		return bad(1, `want front matter: a first line "---", then id, title and severity, then "---"`)
	}
	var rb Runbook
	end := -1
	seen := map[string]bool{}
	for i := 1; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "---" {
			end = i
			break
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return bad(i+1, "front matter: want key: value, got %q", short(l))
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		if seen[k] {
			return bad(i+1, "front matter: %s given twice", k)
		}
		seen[k] = true
		switch k {
		case "id":
			rb.ID = v
		case "title":
			rb.Title = v
		case "severity":
			rb.Severity = v
		default:
			return bad(i+1, "front matter: unknown key %q (want id, title, severity)", short(k))
		}
	}
	if end < 0 {
		return bad(1, `front matter not closed by a "---" line`)
	}
	switch {
	case !ValidID(rb.ID):
		return bad(2, "front matter: id %q: want lower-case letters, digits and dashes (at most 63)", short(rb.ID))
	case rb.Title == "" || len(rb.Title) > 200:
		return bad(2, "front matter: title: required, at most 200 bytes")
	case !slices.Contains(Severities, rb.Severity):
		return bad(2, "front matter: severity %q: want one of %s", short(rb.Severity), strings.Join(Severities, ", "))
	}
	body := lines[end+1:]
	have := map[string]bool{}
	for _, l := range body {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			have[strings.TrimSpace(h)] = true
		}
	}
	var missing []string
	for _, s := range RequiredSections {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return bad(0, "runbook %s lacks the section(s) %s (want \"## \" headings: %s)", rb.ID, strings.Join(missing, ", "), strings.Join(RequiredSections, ", "))
	}
	rb.Markdown = strings.TrimLeft(strings.Join(body, "\n"), "\n")
	return rb, nil
}

func short(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Set is the runbooks a node knows: the built-ins with a site directory's
// on top.
type Set struct {
	byID map[string]Runbook
}

// Builtin returns the built-in runbooks. They are checked by the tests;
// a bad one panics at first use.
func Builtin() *Set {
	s, err := load("")
	if err != nil {
		panic(err)
	}
	return s
}

// Load returns the built-ins with the runbooks of dir ("" for none) on
// top: a site runbook with a built-in's id replaces it. Every file of dir
// named *.md is parsed; an error names the file (and line).
func Load(dir string) (*Set, error) { return load(dir) }

func load(dir string) (*Set, error) {
	s := &Set{byID: map[string]Runbook{}}
	names, _ := fs.Glob(builtinFS, "builtin/*.md")
	for _, n := range names {
		b, err := builtinFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		rb, err := Parse(n, b)
		if err != nil {
			return nil, err
		}
		if _, dup := s.byID[rb.ID]; dup {
			return nil, &Error{File: n, Msg: "duplicate id " + rb.ID}
		}
		rb.Source = "builtin"
		s.byID[rb.ID] = rb
	}
	if dir == "" {
		return s, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("runbooks.dir: %w", err)
	}
	var errs []error
	site := map[string]string{}
	n := 0
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".md") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if n++; n > MaxFiles {
			return nil, fmt.Errorf("runbooks.dir %s: more than %d runbooks", dir, MaxFiles)
		}
		p := filepath.Join(dir, e.Name())
		b, err := readLimited(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rb, err := Parse(p, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := site[rb.ID]; dup {
			errs = append(errs, &Error{File: p, Line: 2, Msg: fmt.Sprintf("id %s is also given by %s", rb.ID, prev)})
			continue
		}
		site[rb.ID] = p
		rb.Source = p
		s.byID[rb.ID] = rb
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(bufio.NewReader(ioLimit(f))); err != nil {
		return nil, &Error{File: p, Msg: err.Error()}
	}
	if buf.Len() > MaxFileBytes {
		return nil, &Error{File: p, Msg: fmt.Sprintf("over %d bytes", MaxFileBytes)}
	}
	return buf.Bytes(), nil
}

// Get returns a runbook by id.
func (s *Set) Get(id string) (Runbook, error) {
	rb, ok := s.byID[id]
	if !ok {
		return Runbook{}, fmt.Errorf("runbook %q: %w", short(id), ErrNotFound)
	}
	return rb, nil
}

// Has reports whether the set has a runbook by id.
func (s *Set) Has(id string) bool { _, ok := s.byID[id]; return ok }

// Check returns nil for a reference configuration may give: empty, an
// http(s) URL, or the id of a runbook in the set.
func (s *Set) Check(ref string) error {
	if ref == "" || IsURL(ref) || s.Has(ref) {
		return nil
	}
	return fmt.Errorf("unknown runbook %q (see `unyo runbook list`; site runbooks go in runbooks.dir)", short(ref))
}

// List returns the runbooks by id, without their Markdown.
func (s *Set) List() []Runbook {
	out := make([]Runbook, 0, len(s.byID))
	for _, rb := range s.byID {
		rb.Markdown = ""
		out = append(out, rb)
	}
	slices.SortFunc(out, func(a, b Runbook) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
