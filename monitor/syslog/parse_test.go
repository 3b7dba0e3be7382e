package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor/filter"
)

func TestParse(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		in    string
		want  filter.Message
		nonc  bool
		isErr bool
	}{
		{"rfc3164 logger", "<27>Jan  2 12:04:00 web01 unyotest[4242]: disk full\n",
			filter.Message{Time: time.Date(2026, 1, 2, 12, 4, 0, 0, jst), Host: "web01", Facility: 3, Severity: 3, App: "unyotest", PID: "4242", Text: "disk full"}, false, false},
		{"rfc3164 december read in january is last year", "<13>Dec 31 23:59:00 web01 app: late",
			filter.Message{Time: time.Date(2025, 12, 31, 23, 59, 0, 0, jst), Host: "web01", Facility: 1, Severity: 5, App: "app", Text: "late"}, false, false},
		{"rfc3164 zero-padded day", "<13>Jan 02 12:00:00 web01 app: x",
			filter.Message{Time: time.Date(2026, 1, 2, 12, 0, 0, 0, jst), Host: "web01", Facility: 1, Severity: 5, App: "app", Text: "x"}, false, false},
		{"rfc3164 rfc3339 timestamp", "<13>2026-01-02T03:00:00Z web01 app: x",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC), Host: "web01", Facility: 1, Severity: 5, App: "app", Text: "x"}, false, false},
		{"rfc5424", "<165>1 2026-01-02T03:04:05.003Z mymachine.example.com evntslog 77 ID47 [exampleSDID@32473 iut=\"3\"] \xef\xbb\xbfAn application event",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 4, 5, 3e6, time.UTC), Host: "mymachine.example.com", Facility: 20, Severity: 5, App: "evntslog", PID: "77", MsgID: "ID47", Text: "An application event"}, false, false},
		{"rfc5424 nil values", "<11>1 - - - - - -",
			filter.Message{Time: recv, Facility: 1, Severity: 3}, false, false},
		{"pri only (cisco-like)", "<189>123: *Mar  1 00:00:00: %SYS-5-CONFIG_I: Configured",
			filter.Message{Time: recv, Facility: 23, Severity: 5, Text: "123: *Mar  1 00:00:00: %SYS-5-CONFIG_I: Configured"}, true, false},
		{"no pri", "hello", filter.Message{}, false, true},
		{"pri out of range", "<192>x", filter.Message{}, false, true},
		{"pri leading zero", "<013>x", filter.Message{}, false, true},
		{"empty", "", filter.Message{}, false, true},
	}
	p := NewParser(jst)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, nonc, err := p.Parse([]byte(tt.in), recv)
			if tt.isErr {
				if !errors.Is(err, ErrNotSyslog) {
					t.Fatalf("err = %v, want ErrNotSyslog", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if nonc != tt.nonc {
				t.Errorf("nonconforming = %v", nonc)
			}
			tt.want.Received = recv
			tt.want.Raw = string(trimFrame([]byte(tt.in)))
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes through the whole receive path below the
// socket: TCP framing (both framings), the parser, the filters and event
// building. Nothing may panic, and every event must be valid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<27>Jan  2 12:04:00 web01 unyotest[4242]: I/O error on sda",
		"<165>1 2026-01-02T03:04:05.003Z host app 77 ID47 [a@1 b=\"c\"] msg",
		"<11>1 - - - - - -", "<189>123: *Mar  1: %SYS-5", "33 <11>1 - h1 a - - - I/O error on sda",
		"<13>2026-01-02T03:00:00Z web01 app: RECORD-ME", "", "<", "<1>", "\xff\xfe<13>",
	} {
		f.Add([]byte(s))
	}
	fcfg, err := filter.LoadConfig([]byte(testFilters + "  - {name: all, min_level: debug, severity: minor, message: '{{.Host}} {{.App}} {{.Text}} {{.Raw}}'}\n"))
	if err != nil {
		f.Fatal(err)
	}
	eng, err := filter.New(fcfg, nil)
	if err != nil {
		f.Fatal(err)
	}
	p := NewParser(time.UTC)
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(frame []byte) {
			msg, _, err := p.Parse(frame, recv)
			if err != nil {
				return
			}
			if msg.Severity < 0 || msg.Severity > 7 || msg.Facility < 0 || msg.Facility > 23 {
				t.Fatalf("facility %d severity %d", msg.Facility, msg.Severity)
			}
			if msg.Host == "" {
				msg.Host = "127.0.0.1"
			}
			if d := eng.Match(&msg); d.Emit() {
				ev := d.Event(&msg, Source)
				ev.Normalize(recv)
				if err := ev.Validate(); err != nil {
					var fe *incident.FieldError
					if !errors.As(err, &fe) || fe.Field != "labels.app" || utf8.ValidString(msg.App) {
						t.Fatalf("invalid event from %q: %v", frame, err)
					}
				}
			}
		}
		check(data)
		fr := &framer{br: bufio.NewReaderSize(bytes.NewReader(data), 512+16), max: 512}
		for range 1000 {
			frame, _, err := fr.next()
			if len(frame) > 512 {
				t.Fatalf("frame of %d bytes over max 512", len(frame))
			}
			if frame != nil {
				check(frame)
			}
			if err != nil {
				return
			}
		}
		t.Fatal("framer did not finish a finite input")
	})
}

func BenchmarkParse(b *testing.B) {
	p := NewParser(time.UTC)
	recv := time.Now()
	for name, line := range map[string]string{
		"rfc3164": "<27>Mar  4 05:06:07 web01 kernel: blk_update_request: I/O error, dev sdc, sector 9876543 op 0x0:(READ)",
		"rfc5424": "<165>1 2026-01-02T03:04:05.003Z web01.example.com evntslog 77 ID47 [exampleSDID@32473 iut=\"3\"] An application event log entry",
	} {
		data := []byte(line)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Parse(data, recv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
