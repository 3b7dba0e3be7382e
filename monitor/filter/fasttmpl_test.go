package filter

import (
	"strings"
	"testing"
	"time"
)

func checkFastLikeExecute(t *testing.T, text string, d *Data) {
	t.Helper()
	tm, err := compileTemplate("message", text)
	if err != nil {
		return
	}
	fast := compileFast(tm)
	if fast == nil {
		return
	}
	var want strings.Builder
	if err := tm.Execute(&want, d); err != nil {
		t.Fatalf("%q: fast form for a template Execute fails on: %v", text, err)
	}
	if got := fast.render(d); got != want.String() {
		t.Fatalf("%q renders %q, Execute %q", text, got, want.String())
	}
}

func TestFastTemplate(t *testing.T) {
	d := &Data{Host: "db01", App: "kernel", PID: "42", MsgID: "ID1", Text: "I/O <error> & \"x\"", Raw: "<3>raw",
		Facility: "kern", Level: "err", Rule: "r1", Time: time.Unix(1, 0), Group: map[string]string{"dev": "sda"},
		Match: []string{"all", "sda"}}
	fast := map[string]bool{
		"{{.Host}}/disk/{{.Group.dev}}":                        true,
		"{{.Host}}: I/O error on {{.Group.dev}} {{.Group.no}}": true,
		"plain text":                       true,
		"{{- .Host -}} / {{.App}}{{.PID}}": true,
		"{{.Facility}}.{{.Level}} {{.Rule}} {{.MsgID}} {{.Text}} {{.Raw}}": true,
		"{{.Time}}":                       false,
		"{{.FacilityCode}}":               false,
		"{{index .Match 1}}":              false,
		"{{.Host | printf \"%q\"}}":       false,
		"{{if .Host}}x{{end}}":            false,
		"{{$x := .Host}}{{$x}}":           false,
		`{{define "a"}}x{{end}}{{.Host}}`: false,
	}
	for text, want := range fast {
		tm, err := compileTemplate("message", text)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := compileFast(tm) != nil; got != want {
			t.Errorf("%q: fast form %v, want %v", text, got, want)
		}
		checkFastLikeExecute(t, text, d)
	}
}

func FuzzFastTemplate(f *testing.F) {
	f.Add("{{.Host}}/x/{{.Group.dev}}", "db01", "sda")
	f.Add("{{ .App }} {{.Group.missing}}", "", "")
	f.Fuzz(func(t *testing.T, text, host, group string) {
		d := &Data{Host: host, App: group, Text: text, Group: map[string]string{"dev": group}}
		checkFastLikeExecute(t, text, d)
	})
}
