package syslog

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/unyo-ops/unyo/monitor/filter"
)

// defaultPRI is what a line without <PRI> is given: user.notice, as
// RFC 3164 section 4.3.3 tells a relay to do.
const defaultPRI = 13

// lenient parses, best effort, a frame both strict parsers refused, so
// that its host, app and text are kept rather than folded into the text:
// an RFC 5424 header with a timestamp the RFC does not allow (9 fraction
// digits, as many senders write) or with fields missing at the end; a
// BSD-style header (a timestamp with a fraction or a year, a missing
// hostname or tag, an RFC 3339 timestamp); a line without <PRI> (given
// user.notice). A frame with a malformed <PRI>, an empty frame and one
// without <PRI> that is not UTF-8 are ErrNotSyslog.
func (p *Parser) lenient(data []byte, received time.Time, cause error) (filter.Message, error) {
	msg := filter.Message{Received: received, Raw: string(data), Time: received}
	pri, rest, ok := splitPRI(data)
	switch {
	case ok:
	case len(data) > 0 && data[0] == '<':
		return filter.Message{}, fmt.Errorf("%w: %v", ErrNotSyslog, cause)
	case len(bytes.TrimSpace(data)) == 0 || !utf8.Valid(data):
		return filter.Message{}, fmt.Errorf("%w: %v", ErrNotSyslog, cause)
	default:
		pri, rest = defaultPRI, data
	}
	msg.Facility, msg.Severity = int(pri/8), int(pri%8)
	rest = bytes.TrimLeft(rest, " ")
	if p.lenient5424(&msg, rest) {
		return msg, nil
	}
	p.lenientBSD(&msg, rest)
	return msg, nil
}

// lenient5424 reads "VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG"
// with a timestamp of any fraction length and any field missing at the
// end; it reports false (msg untouched) unless the line starts with a
// version and a timestamp or "-".
func (p *Parser) lenient5424(msg *filter.Message, b []byte) bool {
	ver, after := token(b)
	if len(ver) == 0 || len(ver) > 3 || ver[0] < '1' || ver[0] > '9' || !allDigits(ver) {
		return false
	}
	tsTok, after := token(after)
	var ts time.Time
	if string(tsTok) != "-" {
		t, err := time.Parse(time.RFC3339Nano, string(tsTok))
		if err != nil {
			return false
		}
		ts = t
	}
	fields := [4]string{}
	for i := range fields {
		var f []byte
		f, after = token(after)
		if string(f) != "-" {
			fields[i] = string(f)
		}
	}
	msg.Host, msg.App, msg.PID, msg.MsgID = fields[0], fields[1], fields[2], fields[3]
	after = skipSD(after)
	if len(after) > 0 && after[0] == ' ' {
		after = after[1:]
	}
	after = bytes.TrimPrefix(after, []byte("\xef\xbb\xbf"))
	msg.Text = string(after)
	if !ts.IsZero() {
		msg.Time = ts
	}
	return true
}

// skipSD skips "-" or a run of "[...]" structured data elements (quoted
// values with backslash escapes), and the spaces before it. What cannot be
// read as structured data is left as the message.
func skipSD(b []byte) []byte {
	s := bytes.TrimLeft(b, " ")
	if len(s) > 0 && s[0] == '-' && (len(s) == 1 || s[1] == ' ') {
		return s[1:]
	}
	i := 0
	for i < len(s) && s[i] == '[' {
		quoted, esc, end := false, false, -1
		for j := i + 1; j < len(s); j++ {
			c := s[j]
			switch {
			case esc:
				esc = false
			case c == '\\' && quoted:
				esc = true
			case c == '"':
				quoted = !quoted
			case c == ']' && !quoted:
				end = j
			}
			if end >= 0 {
				break
			}
		}
		if end < 0 {
			return b // unterminated: keep it all as text
		}
		i = end + 1
	}
	if i == 0 {
		return b
	}
	return s[i:]
}

// lenientBSD reads "[TIMESTAMP] [HOSTNAME] [TAG[PID]:] MSG". A hostname is
// read only after a timestamp (as rsyslog does: without one, the first
// word may as well be the message's); a tag is a word starting with a
// letter or '/', ending in ':' or "[pid]".
func (p *Parser) lenientBSD(msg *filter.Message, b []byte) {
	ts, rest, ok := p.bsdTime(b, msg.Received)
	if ok {
		msg.Time = ts
		b = bytes.TrimLeft(rest, " ")
		if w, after := token(b); isHostname(w) && !isTag(w) {
			msg.Host = string(w)
			b = bytes.TrimLeft(after, " ")
		}
	}
	if w, after := token(b); isTag(w) {
		w = bytes.TrimSuffix(w, []byte(":"))
		if i := bytes.IndexByte(w, '['); i > 0 && w[len(w)-1] == ']' {
			msg.PID = string(w[i+1 : len(w)-1])
			w = w[:i]
		}
		msg.App = string(w)
		b = after
		if len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
	}
	msg.Text = string(b)
}

var months = map[string]time.Month{
	"Jan": time.January, "Feb": time.February, "Mar": time.March, "Apr": time.April,
	"May": time.May, "Jun": time.June, "Jul": time.July, "Aug": time.August,
	"Sep": time.September, "Oct": time.October, "Nov": time.November, "Dec": time.December,
}

// bsdTime reads a leading timestamp: an RFC 3339 one (any fraction), or
// "Mmm dd [yyyy ]hh:mm:ss[.fraction]" (read in the parser's zone; without
// a year, the year nearest to the time of receipt).
func (p *Parser) bsdTime(b []byte, received time.Time) (time.Time, []byte, bool) {
	if w, after := token(b); len(w) >= 20 && w[4] == '-' {
		if t, err := time.Parse(time.RFC3339Nano, string(w)); err == nil {
			return t, after, true
		}
	}
	if len(b) < 15 || b[3] != ' ' {
		return time.Time{}, nil, false
	}
	mon, ok := months[string(b[:3])]
	if !ok {
		return time.Time{}, nil, false
	}
	s := bytes.TrimLeft(b[3:], " ")
	day, s, ok := number(s, 1, 2)
	if !ok || day < 1 || day > 31 || len(s) == 0 || s[0] != ' ' {
		return time.Time{}, nil, false
	}
	s = s[1:]
	year := 0
	if y, after, ok := number(s, 4, 4); ok && len(after) > 0 && after[0] == ' ' {
		year, s = y, after[1:]
	}
	var hms [3]int
	for i := range hms {
		if i > 0 {
			if len(s) == 0 || s[0] != ':' {
				return time.Time{}, nil, false
			}
			s = s[1:]
		}
		if hms[i], s, ok = number(s, 2, 2); !ok {
			return time.Time{}, nil, false
		}
	}
	if hms[0] > 23 || hms[1] > 59 || hms[2] > 60 {
		return time.Time{}, nil, false
	}
	ns := 0
	if len(s) > 1 && s[0] == '.' {
		k := 1
		for scale := 100_000_000; k < len(s) && s[k] >= '0' && s[k] <= '9'; k++ {
			ns += int(s[k]-'0') * scale
			scale /= 10
		}
		s = s[k:]
	}
	if len(s) > 0 && s[0] != ' ' {
		return time.Time{}, nil, false
	}
	t := time.Date(year, mon, day, hms[0], hms[1], hms[2], ns, p.loc)
	if year == 0 {
		t = p.fixYear(t, received)
	}
	return t, s, true
}

// number reads min..max leading decimal digits.
func number(b []byte, minDigits, maxDigits int) (int, []byte, bool) {
	n, i := 0, 0
	for ; i < len(b) && i < maxDigits && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	if i < minDigits {
		return 0, b, false
	}
	return n, b[i:], true
}

// token returns the first space-separated word of b (after leading
// spaces) and what follows it.
func token(b []byte) (word, rest []byte) {
	b = bytes.TrimLeft(b, " ")
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i:]
	}
	return b, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isHostname: 1-255 of letters, digits, '.', '-', '_', ':' (IPv6), not
// ending in ':'.
func isHostname(w []byte) bool {
	if len(w) == 0 || len(w) > 255 || w[len(w)-1] == ':' {
		return false
	}
	for _, c := range w {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_', c == ':':
		default:
			return false
		}
	}
	return true
}

// isTag: a word of at most 64 bytes starting with a letter or '/', made of
// printable ASCII without '[' except a final "[pid]", ending in ':' or
// "]".
func isTag(w []byte) bool {
	if len(w) < 2 || len(w) > 64 {
		return false
	}
	if c := w[0]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/') {
		return false
	}
	body := bytes.TrimSuffix(w, []byte(":"))
	if len(body) == len(w) && body[len(body)-1] != ']' {
		return false
	}
	if i := bytes.IndexByte(body, '['); i >= 0 {
		if i == 0 || body[len(body)-1] != ']' || bytes.IndexByte(body[i+1:len(body)-1], '[') >= 0 {
			return false
		}
		body = body[:i]
	} else if bytes.IndexByte(body, ']') >= 0 {
		return false
	}
	for _, c := range body {
		if c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return len(body) > 0
}
