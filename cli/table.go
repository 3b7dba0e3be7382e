package cli

import (
	"bytes"
	"io"
	"strings"

	"github.com/mattn/go-runewidth"
)

// table lines up tab-separated cells in columns, as text/tabwriter does
// with padding 2, but by the width a terminal gives each character: a
// Japanese (East Asian wide) character takes two columns, a combining mark
// none. Every cell but the last of a line is padded to the widest of its
// column; the last is written as it is. Lines are held until Flush.
//
// Cells reach a table already made safe (safe, oneLine): no control
// character is left whose width could not be known.
type table struct {
	w   io.Writer
	buf bytes.Buffer
}

// tablePadding is the space between two columns.
const tablePadding = 2

func newTable(w io.Writer) *table { return &table{w: w} }

func (t *table) Write(p []byte) (int, error) { return t.buf.Write(p) }

// Flush writes the lines held, aligned.
func (t *table) Flush() error {
	text := t.buf.String()
	t.buf.Reset()
	if text == "" {
		return nil
	}
	_, err := io.WriteString(t.w, alignCells(text))
	return err
}

// alignCells aligns the tab-separated cells of text's lines.
func alignCells(text string) string {
	trailing := strings.HasSuffix(text, "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	rows := make([][]string, len(lines))
	var widths []int
	for i, l := range lines {
		rows[i] = strings.Split(l, "\t")
		for j, c := range rows[i][:len(rows[i])-1] {
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], displayWidth(c))
		}
	}
	var b strings.Builder
	for i, r := range rows {
		for j, c := range r {
			b.WriteString(c)
			if j < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[j]-displayWidth(c)+tablePadding))
			}
		}
		if i < len(rows)-1 || trailing {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	return runewidthCond.StringWidth(s)
}

// runewidthCond measures East Asian ambiguous characters (such as ○ and
// ※) as one column, as terminals do outside an East Asian locale.
var runewidthCond = func() *runewidth.Condition {
	c := runewidth.NewCondition()
	c.EastAsianWidth = false
	return c
}()
