package incident

import (
	"errors"
	"slices"
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
