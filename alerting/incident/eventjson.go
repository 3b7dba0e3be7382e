package incident

import (
	"encoding/json"
	"errors"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// AppendJSON appends ev encoded exactly as json.Marshal encodes it (the
// same bytes, HTML-escaped strings included), without reflection: the
// receivers spool every syslog line and trap as an Event, and the generic
// encoder was the largest single cost on that path. It is deliberately not
// a MarshalJSON method: encoding/json re-validates and compacts what such a
// method returns, which costs more than it saves.
func (ev *Event) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, ev.Source)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, ev.Target)
	b = append(b, `,"check":`...)
	b = appendJSONString(b, ev.Check)
	b = append(b, `,"severity":`...)
	b = appendJSONString(b, string(ev.Severity))
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(ev.Status))
	b = append(b, `,"dedup_key":`...)
	b = appendJSONString(b, ev.DedupKey)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, ev.Message)
	b = append(b, `,"time":"`...)
	var err error
	if b, err = ev.Time.AppendText(b); err != nil {
		return nil, errors.New("incident: event time: " + err.Error())
	}
	b = append(b, '"')
	if len(ev.Labels) > 0 {
		b = append(b, `,"labels":{`...)
		keys := make([]string, 0, len(ev.Labels))
		for k := range ev.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, ev.Labels[k])
		}
		b = append(b, '}')
	}
	if ev.Runbook != "" {
		b = append(b, `,"runbook":`...)
		b = appendJSONString(b, ev.Runbook)
	}
	if !ev.Received.IsZero() {
		b = append(b, `,"received":"`...)
		if b, err = ev.Received.AppendText(b); err != nil {
			return nil, errors.New("incident: event received: " + err.Error())
		}
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it with HTML
// escaping on: <, > and & as \u003c..., invalid UTF-8 as \ufffd, and the
// line and paragraph separators U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// DecodeJSON sets *ev to the event data encodes, with the result
// json.Unmarshal gives into a zero Event. The compact form AppendJSON
// writes is read without reflection; anything else (whitespace, unknown or
// repeated keys, escapes it does not write, invalid UTF-8) is handed to
// json.Unmarshal, so the outcome is always encoding/json's.
func DecodeJSON(data []byte, ev *Event) error {
	*ev = Event{}
	if decodeFast(data, ev) {
		return nil
	}
	*ev = Event{}
	return json.Unmarshal(data, ev)
}

// decodeFast reads AppendJSON's form; false means "not that form".
func decodeFast(data []byte, ev *Event) bool {
	d := fastDecoder{data: data}
	if !d.byte('{') {
		return false
	}
	var seen uint16
	for first := true; ; first = false {
		if d.peek() == '}' && first {
			d.i++
			break
		}
		key, ok := d.str()
		if !ok || !d.byte(':') {
			return false
		}
		bit, dst := uint16(0), (*string)(nil)
		switch key {
		case "id":
			bit, dst = 1<<0, &ev.ID
		case "source":
			bit, dst = 1<<1, &ev.Source
		case "target":
			bit, dst = 1<<2, &ev.Target
		case "check":
			bit, dst = 1<<3, &ev.Check
		case "severity":
			bit, dst = 1<<4, (*string)(&ev.Severity)
		case "status":
			bit, dst = 1<<5, (*string)(&ev.Status)
		case "dedup_key":
			bit, dst = 1<<6, &ev.DedupKey
		case "message":
			bit, dst = 1<<7, &ev.Message
		case "runbook":
			bit, dst = 1<<8, &ev.Runbook
		case "time":
			bit = 1 << 9
		case "received":
			bit = 1 << 10
		case "labels":
			bit = 1 << 11
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch {
		case dst != nil:
			if *dst, ok = d.str(); !ok {
				return false
			}
		case key == "labels":
			if !d.labels(ev) {
				return false
			}
		default:
			start := d.i
			if _, ok := d.str(); !ok {
				return false
			}
			t := &ev.Time
			if key == "received" {
				t = &ev.Received
			}
			if t.UnmarshalJSON(data[start:d.i]) != nil {
				return false
			}
		}
		if d.peek() == '}' {
			d.i++
			break
		}
		if !d.byte(',') {
			return false
		}
	}
	return d.i == len(d.data)
}

type fastDecoder struct {
	data []byte
	i    int
}

func (d *fastDecoder) peek() byte {
	if d.i < len(d.data) {
		return d.data[d.i]
	}
	return 0
}

func (d *fastDecoder) byte(c byte) bool {
	if d.peek() != c {
		return false
	}
	d.i++
	return true
}

func (d *fastDecoder) labels(ev *Event) bool {
	if !d.byte('{') || d.peek() == '}' {
		return false // json.Unmarshal keeps an empty map; AppendJSON omits one
	}
	m := map[string]string{}
	for {
		k, ok := d.str()
		if !ok || !d.byte(':') {
			return false
		}
		v, ok := d.str()
		if !ok {
			return false
		}
		if _, dup := m[k]; dup {
			return false
		}
		m[k] = v
		if d.byte('}') {
			ev.Labels = m
			return true
		}
		if !d.byte(',') {
			return false
		}
	}
}

// str reads a JSON string holding only the escapes AppendJSON writes.
func (d *fastDecoder) str() (string, bool) {
	if !d.byte('"') {
		return "", false
	}
	start := d.i
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			s := d.data[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

// escaped finishes a string from start that has an escape at d.i.
func (d *fastDecoder) escaped(start int) (string, bool) {
	b := append([]byte(nil), d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(b) {
				return "", false
			}
			return string(b), true
		case c < 0x20:
			return "", false
		case c != '\\':
			b = append(b, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.data) {
			return "", false
		}
		switch e := d.data[d.i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if d.i+6 > len(d.data) {
				return "", false
			}
			r, ok := hex4(d.data[d.i+2 : d.i+6])
			if !ok || utf16.IsSurrogate(r) {
				return "", false // pairs and lone halves: encoding/json's rules
			}
			b = utf8.AppendRune(b, r)
			d.i += 6
			continue
		default:
			return "", false
		}
		d.i += 2
	}
	return "", false
}

func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
