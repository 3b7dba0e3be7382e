package syslog

import (
	"errors"
	"fmt"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/unyo-ops/unyo/monitor/filter"
)

// ErrNotSyslog is returned by Parser.Parse for a frame that has no valid
// <PRI> and that neither RFC 3164 nor RFC 5424 accepts.
var ErrNotSyslog = errors.New("not a syslog message")

// Parser parses single syslog messages. It is not safe for concurrent use:
// give each goroutine its own.
type Parser struct {
	m   gosyslog.Machine
	loc *time.Location
}

// NewParser returns a parser reading RFC 3164 timestamps in loc (nil: UTC).
func NewParser(loc *time.Location) *Parser {
	if loc == nil {
		loc = time.UTC
	}
	return &Parser{
		m: auto.NewMachine(
			auto.WithRFC3164Options(
				rfc3164.WithLocaleTimezone(loc),
				rfc3164.WithRFC3339(),
				rfc3164.WithLenientDay(),
				rfc3164.WithSecondFractions(),
			),
			auto.WithRFC5424Options(),
		),
		loc: loc,
	}
}

// Parse parses one message: a UDP datagram or one TCP frame, without its
// framing. received is when it arrived. A frame the strict RFC 5424 and
// RFC 3164 parsers refuse is parsed best effort (see lenient: a 9-digit
// fraction, missing fields, BSD-style headers, no <PRI>) keeping its host,
// app and text; nonconforming reports that. Host is empty for a message
// without a HOSTNAME.
func (p *Parser) Parse(data []byte, received time.Time) (msg filter.Message, nonconforming bool, err error) {
	data = trimFrame(data)
	msg.Received = received
	msg.Raw = string(data)
	parsed, err := p.m.Parse(data)
	if err != nil || parsed == nil {
		msg, err := p.lenient(data, received, err)
		return msg, err == nil, err
	}
	var b *gosyslog.Base
	switch m := parsed.(type) {
	case *rfc5424.SyslogMessage:
		b = &m.Base
	case *rfc3164.SyslogMessage:
		b = &m.Base
	default:
		return filter.Message{}, false, fmt.Errorf("%w: unexpected message type %T", ErrNotSyslog, parsed)
	}
	if b.Facility != nil {
		msg.Facility = int(*b.Facility)
	}
	if b.Severity != nil {
		msg.Severity = int(*b.Severity)
	}
	msg.Host = deref(b.Hostname)
	msg.App = deref(b.Appname)
	msg.PID = deref(b.ProcID)
	msg.MsgID = deref(b.MsgID)
	msg.Text = deref(b.Message)
	if _, ok := parsed.(*rfc5424.SyslogMessage); ok {
		// RFC 5424 allows a UTF-8 BOM before MSG.
		if len(msg.Text) >= 3 && msg.Text[:3] == "\xef\xbb\xbf" {
			msg.Text = msg.Text[3:]
		}
	}
	msg.Time = received
	if b.Timestamp != nil && !b.Timestamp.IsZero() {
		msg.Time = p.fixYear(*b.Timestamp, received)
	}
	return msg, false, nil
}

// fixYear gives an RFC 3164 timestamp (parsed as year 0) the year that puts
// it closest to received, so December lines read in January land in the old
// year.
func (p *Parser) fixYear(ts, received time.Time) time.Time {
	if ts.Year() != 0 {
		return ts
	}
	best := ts
	var bestDiff time.Duration = -1
	ry := received.In(p.loc).Year()
	for _, y := range []int{ry - 1, ry, ry + 1} {
		t := time.Date(y, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), ts.Nanosecond(), ts.Location())
		d := t.Sub(received)
		if d < 0 {
			d = -d
		}
		if bestDiff < 0 || d < bestDiff {
			best, bestDiff = t, d
		}
	}
	return best
}

func deref(s *string) string {
	if s == nil || *s == "-" {
		return ""
	}
	return *s
}

// trimFrame drops trailing CR, LF and NUL, which senders add as framing.
func trimFrame(b []byte) []byte {
	for len(b) > 0 {
		switch b[len(b)-1] {
		case '\n', '\r', 0:
			b = b[:len(b)-1]
			continue
		}
		break
	}
	return b
}

// splitPRI parses a leading "<PRI>" (0-191, no leading zeros but "0").
func splitPRI(b []byte) (pri uint8, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != '<' {
		return 0, nil, false
	}
	n, i := 0, 1
	for ; i < len(b) && i <= 4 && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int(b[i]-'0')
	}
	digits := i - 1
	if digits == 0 || digits > 3 || i >= len(b) || b[i] != '>' || n > 191 || (digits > 1 && b[1] == '0') {
		return 0, nil, false
	}
	return uint8(n), b[i+1:], true
}
