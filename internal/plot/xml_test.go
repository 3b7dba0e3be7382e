package plot

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
)

// node is a parsed SVG element.
type node struct {
	Name     string
	Attr     map[string]string
	Text     string
	Children []*node
	Parent   *node
}

func parseSVG(t testing.TB, b []byte) *node {
	t.Helper()
	root, err := parseXML(b)
	if err != nil {
		t.Fatalf("SVG does not parse: %v\n%s", err, b)
	}
	if root.Name != "svg" {
		t.Fatalf("root is %q", root.Name)
	}
	return root
}

func parseXML(b []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	var root, cur *node
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &node{Name: tk.Name.Local, Attr: map[string]string{}, Parent: cur}
			for _, a := range tk.Attr {
				n.Attr[a.Name.Local] = a.Value
			}
			if cur == nil {
				if root != nil {
					return nil, io.ErrUnexpectedEOF
				}
				root = n
			} else {
				cur.Children = append(cur.Children, n)
			}
			cur = n
		case xml.EndElement:
			cur = cur.Parent
		case xml.CharData:
			if cur != nil {
				cur.Text += string(tk)
			}
		}
	}
	if root == nil {
		return nil, io.ErrUnexpectedEOF
	}
	return root, nil
}

// find returns every element named name (any if "") whose class list
// has class (any if "").
func (n *node) find(name, class string) []*node {
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		if (name == "" || m.Name == name) && (class == "" || hasClass(m, class)) {
			out = append(out, m)
		}
		for _, c := range m.Children {
			walk(c)
		}
	}
	walk(n)
	return out
}

func hasClass(n *node, class string) bool {
	for _, c := range strings.Fields(n.Attr["class"]) {
		if c == class {
			return true
		}
	}
	return false
}

func (n *node) texts() []string {
	var out []string
	for _, t := range n.find("text", "") {
		out = append(out, t.Text)
	}
	return out
}

// pathPoints parses an M/L path into subpaths of points.
func pathPoints(t testing.TB, d string) [][][2]float64 {
	t.Helper()
	var out [][][2]float64
	for i := 0; i < len(d); {
		c := d[i]
		i++
		if c == 'Z' {
			continue
		}
		if c == 'h' {
			j := i
			for j < len(d) && (d[j] == '.' || d[j] == '-' || d[j] >= '0' && d[j] <= '9') {
				j++
			}
			i = j
			continue
		}
		if c != 'M' && c != 'L' {
			t.Fatalf("path %q: unexpected %q", d, c)
		}
		j := i
		for j < len(d) && d[j] != 'M' && d[j] != 'L' && d[j] != 'Z' && d[j] != 'h' {
			j++
		}
		f := strings.Fields(d[i:j])
		if len(f) != 2 {
			t.Fatalf("path %q: bad coordinates %q", d, d[i:j])
		}
		x, err1 := strconv.ParseFloat(f[0], 64)
		y, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("path %q: %v %v", d, err1, err2)
		}
		if c == 'M' {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], [2]float64{x, y})
		i = j
	}
	return out
}

func num64(t testing.TB, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}
