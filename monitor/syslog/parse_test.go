package syslog

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
		{"no pri: user.notice", "hello", filter.Message{Time: recv, Facility: 1, Severity: 5, Text: "hello"}, true, false},
		{"rfc5424 nine fraction digits", "<13>1 2026-01-02T03:04:05.123456789Z web01 app 12 ID1 - hello nine",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Host: "web01", Facility: 1, Severity: 5, App: "app", PID: "12", MsgID: "ID1", Text: "hello nine"}, true, false},
		{"rfc5424 nine digits, structured data, offset", "<165>1 2026-01-02T12:04:05.123456789+09:00 web02 evntslog - - [a@1 b=\"c]\\\"\"][t q=\"1\"] \xef\xbb\xbfdisk I/O error",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Host: "web02", Facility: 20, Severity: 5, App: "evntslog", Text: "disk I/O error"}, true, false},
		{"rfc5424 fields missing at the end", "<13>1 2026-01-02T03:04:05.123456789Z web03",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Host: "web03", Facility: 1, Severity: 5}, true, false},
		{"rfc5424 nil timestamp, unterminated sd", "<13>1 - web04 app - - [x y",
			filter.Message{Time: recv, Host: "web04", Facility: 1, Severity: 5, App: "app", Text: "[x y"}, true, false},
		{"bsd fraction", "<13>Jan  2 12:04:00.123456789 web01 sshd[77]: frac",
			filter.Message{Time: time.Date(2026, 1, 2, 12, 4, 0, 123456789, jst), Host: "web01", Facility: 1, Severity: 5, App: "sshd", PID: "77", Text: "frac"}, true, false},
		{"bsd with year", "<13>Jan  2 2026 12:04:00 web01 app: year",
			filter.Message{Time: time.Date(2026, 1, 2, 12, 4, 0, 0, jst), Host: "web01", Facility: 1, Severity: 5, App: "app", Text: "year"}, true, false},
		{"bsd rfc3339 nine digits", "<13>2026-01-02T03:04:05.123456789Z web01 app: nano",
			filter.Message{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Host: "web01", Facility: 1, Severity: 5, App: "app", Text: "nano"}, true, false},
		{"bsd no pri", "Jan  2 12:04:00 web05 cron[3]: no pri",
			filter.Message{Time: time.Date(2026, 1, 2, 12, 4, 0, 0, jst), Host: "web05", Facility: 1, Severity: 5, App: "cron", PID: "3", Text: "no pri"}, true, false},
		{"bsd no timestamp: tag only", "<13>app: no ts",
			filter.Message{Time: recv, Facility: 1, Severity: 5, App: "app", Text: "no ts"}, true, false},
		{"no pri, not utf-8", "\xff\xfe", filter.Message{}, false, true},
		{"blank", "   ", filter.Message{}, false, true},
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
		"<13>1 2026-01-02T03:04:05.123456789Z web01 app 12 - [a@1 b=\"]\"] I/O error on sda",
		"<13>1 - web03", "<13>Jan  2 2026 12:04:00.5 web01 cron[1]: x", "Jan  2 12:04:00 web05 app: no pri",
		"<13>2026-01-02T03:04:05.123456789+09:00 h a[: x", "plain text line",
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
			msg, nonc, err := p.Parse(frame, recv)
			if err != nil {
				return
			}
			if nonc {
				// Best effort keeps the fields it found, all taken from the frame.
				for _, f := range []string{msg.Host, msg.App, msg.PID, msg.MsgID, msg.Text} {
					if !strings.Contains(msg.Raw, f) {
						t.Fatalf("field %q not in the frame %q", f, msg.Raw)
					}
				}
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

// TestLoggerLinesKeepHost captures real util-linux logger lines in each of
// its formats and, besides each line as sent, the variants real senders
// produce that the RFCs do not allow (a 9-digit fraction, no <PRI>): every
// one must keep logger's host, app and text.
// The 9-digit one then goes through the receiver: the event's target is
// the host, and it is counted as nonconforming.
func TestLoggerLinesKeepHost(t *testing.T) {
	t.Parallel()
	logger := requireTool(t, "logger", "bsdutils")
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	host, _ := os.Hostname()
	frac6 := regexp.MustCompile(`(T\d\d:\d\d:\d\d\.\d{6})`)
	var lines []string
	for _, format := range []string{"--rfc3164", "--rfc5424", "--rfc5424=notq", "--rfc5424=notq,notime"} {
		cmd := exec.Command(logger, "-n", "127.0.0.1", "-P", port(pc.LocalAddr().String()), "-d", format,
			"-t", "unyotest", "-p", "daemon.err", "I/O error on sdb")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("logger %s: %v: %s", format, err, out)
		}
		buf := make([]byte, 2048)
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("logger %s: %v", format, err)
		}
		line := string(buf[:n])
		lines = append(lines, line)
		if frac6.MatchString(line) {
			lines = append(lines, frac6.ReplaceAllString(line, "${1}123"))
		}
		_, rest, _ := splitPRI([]byte(line))
		lines = append(lines, string(rest))
	}
	p := NewParser(time.UTC)
	recv := time.Now()
	nine := ""
	for _, line := range lines {
		msg, nonc, err := p.Parse([]byte(line), recv)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if !strings.EqualFold(msg.Host, host) && !strings.HasPrefix(strings.ToLower(host), strings.ToLower(msg.Host)) || msg.Host == "" {
			t.Errorf("%q: host %q, want %q", line, msg.Host, host)
		}
		if msg.App != "unyotest" || msg.Text != "I/O error on sdb" {
			t.Errorf("%q: app %q text %q", line, msg.App, msg.Text)
		}
		if strings.Contains(line, "123+") && nine == "" {
			nine = line
			if !nonc || msg.Time.Nanosecond()%1000 != 123 {
				t.Errorf("%q: nonconforming %v, time %v", line, nonc, msg.Time)
			}
		}
	}
	if nine == "" {
		t.Fatalf("no rfc5424 line with a fraction among %q", lines)
	}

	h := start(t, nil)
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Replace(nine, "I/O error on sdb", "I/O error on sdc", 1))); err != nil {
		t.Fatal(err)
	}
	ev := h.next(t)
	if ev.DedupKey != ev.Target+"/disk/sdc" || ev.Target == "127.0.0.1" || ev.Labels["app"] != "unyotest" {
		t.Errorf("event target %q dedup %q labels %v", ev.Target, ev.DedupKey, ev.Labels)
	}
	if got := testutil.ToFloat64(h.r.m.nonconforming[protoUDP]); got != 1 {
		t.Errorf("nonconforming %v, want 1", got)
	}
}
