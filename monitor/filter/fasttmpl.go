package filter

import (
	"strings"
	"text/template"
	"text/template/parse"
)

// fastTemplate renders a dedup_key or message template that is only text
// and plain references to Data's string fields ({{.Host}}, {{.Group.dev}})
// without text/template's reflection; it renders what Execute would. Every
// other template keeps Execute (see rule.render).
type fastTemplate []tmplPart

type tmplPart struct {
	lit   string
	field string // Data field name; "" for a literal
	group string // the Group key when field is "Group"
}

// compileFast returns t's fast form, or nil when t uses anything more than
// text and string fields.
func compileFast(t *template.Template) fastTemplate {
	if t == nil || t.Tree == nil || t.Tree.Root == nil || len(t.Templates()) != 1 {
		return nil
	}
	var parts fastTemplate
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, tmplPart{lit: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || p.IsAssign || len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok {
				return nil
			}
			switch {
			case len(f.Ident) == 1 && stringField(f.Ident[0]):
				parts = append(parts, tmplPart{field: f.Ident[0]})
			case len(f.Ident) == 2 && f.Ident[0] == "Group":
				parts = append(parts, tmplPart{field: "Group", group: f.Ident[1]})
			default:
				return nil
			}
		default:
			return nil
		}
	}
	return parts
}

func stringField(name string) bool {
	switch name {
	case "Host", "App", "PID", "MsgID", "Text", "Raw", "Facility", "Level", "Rule":
		return true
	}
	return false
}

func (f fastTemplate) render(d *Data) string {
	var b strings.Builder
	for _, p := range f {
		switch p.field {
		case "":
			b.WriteString(p.lit)
		case "Host":
			b.WriteString(d.Host)
		case "App":
			b.WriteString(d.App)
		case "PID":
			b.WriteString(d.PID)
		case "MsgID":
			b.WriteString(d.MsgID)
		case "Text":
			b.WriteString(d.Text)
		case "Raw":
			b.WriteString(d.Raw)
		case "Facility":
			b.WriteString(d.Facility)
		case "Level":
			b.WriteString(d.Level)
		case "Rule":
			b.WriteString(d.Rule)
		case "Group":
			b.WriteString(d.Group[p.group]) // missingkey=zero: a missing group is empty
		}
	}
	return b.String()
}
