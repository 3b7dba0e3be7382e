package runbooks

import (
	"html"
	"html/template"
	"strings"
)

// HTML renders a small Markdown subset as HTML: "#"–"######" headings,
// paragraphs, "-"/"*" bullet and "1." numbered lists, fenced code blocks
// (```), `inline code` and **bold**. Every character from the source is
// HTML-escaped before any tag is added, and no link or image syntax is
// turned into markup, so a runbook cannot inject script, links or styles.
func HTML(md string) template.HTML {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n")
	list := "" // "ul", "ol" or ""
	para := false
	closeBlocks := func() {
		if para {
			b.WriteString("</p>\n")
			para = false
		}
		if list != "" {
			b.WriteString("</li></" + list + ">\n")
			list = ""
		}
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "```"):
			closeBlocks()
			b.WriteString("<pre><code>")
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				b.WriteString(html.EscapeString(lines[i]))
				b.WriteString("\n")
			}
			b.WriteString("</code></pre>\n")
		case t == "":
			closeBlocks()
		case heading(t) > 0:
			closeBlocks()
			n := heading(t)
			tag := "h" + string(rune('0'+n))
			b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(t[n:])) + "</" + tag + ">\n")
		case bullet(t) != "":
			item := bullet(t)
			kind := "ul"
			if item[0] == 'o' {
				kind = "ol"
			}
			if para {
				b.WriteString("</p>\n")
				para = false
			}
			if list != kind {
				if list != "" {
					b.WriteString("</li></" + list + ">\n")
				}
				b.WriteString("<" + kind + "><li>")
				list = kind
			} else {
				b.WriteString("</li>\n<li>")
			}
			b.WriteString(inline(item[1:]))
		case list != "" && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")):
			// A continuation line of a list item.
			b.WriteString(" " + inline(t))
		default:
			if list != "" {
				b.WriteString("</li></" + list + ">\n")
				list = ""
			}
			if !para {
				b.WriteString("<p>")
				para = true
			} else {
				b.WriteString("\n")
			}
			b.WriteString(inline(t))
		}
	}
	closeBlocks()
	return template.HTML(b.String()) //nolint:gosec // every source character is escaped above
}

// heading returns the level of a "# " heading line, 0 for none.
func heading(t string) int {
	n := 0
	for n < len(t) && n < 6 && t[n] == '#' {
		n++
	}
	if n > 0 && n < len(t) && t[n] == ' ' {
		return n
	}
	return 0
}

// bullet returns "u"+text for "- x" or "* x", "o"+text for "1. x", "" else.
func bullet(t string) string {
	if strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") {
		return "u" + strings.TrimSpace(t[2:])
	}
	i := 0
	for i < len(t) && i < 4 && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i > 0 && strings.HasPrefix(t[i:], ". ") {
		return "o" + strings.TrimSpace(t[i+2:])
	}
	return ""
}

// inline escapes a line and marks `code` and **bold**.
func inline(s string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '`')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i+1:], '`')
		if j < 0 {
			break
		}
		b.WriteString(bold(html.EscapeString(s[:i])))
		b.WriteString("<code>" + html.EscapeString(s[i+1:i+1+j]) + "</code>")
		s = s[i+2+j:]
	}
	b.WriteString(bold(html.EscapeString(s)))
	return b.String()
}

// bold turns **x** into <b>x</b> in already escaped text.
func bold(s string) string {
	for {
		i := strings.Index(s, "**")
		if i < 0 {
			return s
		}
		j := strings.Index(s[i+2:], "**")
		if j < 0 {
			return s
		}
		s = s[:i] + "<b>" + s[i+2:i+2+j] + "</b>" + s[i+4+j:]
	}
}
