package incident

import (
	"encoding/json"
	"testing"
	"time"
)

func checkSameAsReflection(t *testing.T, ev Event) {
	t.Helper()
	got, err := ev.AppendJSON(nil)
	want, werr := json.Marshal(ev)
	if (err != nil) != (werr != nil) {
		t.Fatalf("error %v, reflection's %v", err, werr)
	}
	if string(got) != string(want) {
		t.Fatalf("encoding differs\n got  %s\n want %s", got, want)
	}
	if err != nil {
		return
	}
	var back Event
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("decode own encoding: %v", err)
	}
}

func TestEventJSONMatchesReflection(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	for _, ev := range []Event{
		{},
		{ID: "e1", Source: "syslog", Target: "db01", Check: "app", Severity: Critical, Status: Problem,
			DedupKey: "db01/app", Message: "disk <full> & \"quoted\" \\ \b\f\n\r\t\x00\x1f\x7f",
			Time: time.Date(2026, 12, 3, 1, 2, 3, 456789000, tokyo)},
		{ID: "e2", Message: "invalid \xff\xfe utf8, \u2028 \u2029 \u202e 日本語",
			Labels: map[string]string{"z": "1", "a": "<2>", "m": ""}, Runbook: "host-down",
			Time: time.Unix(0, 1).UTC(), Received: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "e3", Labels: map[string]string{}, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		checkSameAsReflection(t, ev)
	}
}

func FuzzEventJSON(f *testing.F) {
	f.Add("id", "message <&>\n\u2028", "k", "v\xff", int64(1764720000123456789), int16(540))
	f.Fuzz(func(t *testing.T, id, msg, k, v string, nanos int64, offMin int16) {
		ev := Event{ID: id, Source: k, Target: v, Check: msg, Severity: Severity(v), Status: Status(k),
			DedupKey: id + k, Message: msg, Runbook: v,
			Time:     time.Unix(0, nanos).In(time.FixedZone("", int(offMin)*60)),
			Received: time.Unix(0, nanos/3).UTC(),
		}
		if k != "" {
			ev.Labels = map[string]string{k: v, v: msg}
		}
		checkSameAsReflection(t, ev)
	})
}

func BenchmarkEventJSON(b *testing.B) {
	ev := Event{ID: "01JD0000000000000000000000", Source: "syslog", Target: "web01", Check: "sshd",
		Severity: Warning, Status: Problem, DedupKey: "web01/sshd",
		Message: "Failed password for invalid user admin from 127.0.0.1 port 52144 ssh2",
		Time:    time.Now(), Received: time.Now(), Labels: map[string]string{"facility": "auth", "app": "sshd"}}
	b.Run("own", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ev.AppendJSON(make([]byte, 0, 512)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// checkDecodeAsReflection asserts DecodeJSON gives json.Unmarshal's result.
func checkDecodeAsReflection(t *testing.T, data []byte) {
	t.Helper()
	var got, want Event
	err := DecodeJSON(data, &got)
	werr := json.Unmarshal(data, &want)
	if (err != nil) != (werr != nil) {
		t.Fatalf("%q: error %v, json.Unmarshal's %v", data, err, werr)
	}
	if err != nil {
		return
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) || (got.Labels == nil) != (want.Labels == nil) {
		t.Fatalf("%q decodes to\n %s\nwant\n %s", data, g, w)
	}
}

func TestDecodeJSONMatchesReflection(t *testing.T) {
	ev := Event{ID: "e2", Message: "invalid \xff\xfe utf8, \u2028 <&> \"\\\n\x01 日本語",
		Labels: map[string]string{"z": "1", "a": "<2>"}, Runbook: "host-down", Severity: Major,
		Time: time.Date(2026, 12, 3, 1, 2, 3, 4, time.FixedZone("", 9*3600)), Received: time.Unix(5, 6).UTC()}
	own, err := ev.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if !decodeFast(own, &back) {
		t.Fatalf("fast path declined AppendJSON's own form %s", own)
	}
	for _, data := range []string{
		string(own), `{}`, `{"id":"a","id":"b"}`, `{"ID":"x"}`, `{"labels":{}}`, `{"labels":null}`,
		`{"labels":{"a":"1","a":"2"}}`, `{"message":"\ud83d\ude00 \ud800"}`, `{"message":"\u00e9\/"}`,
		`{"time":"2026-12-03T01:02:03Z"}`, `{"time":"bad"}`, `{"time":null}`, ` {"id":"a"} `,
		`{"id":"a",}`, `{"id":"a"`, `{"id":"a\x01"}`, "{\"id\":\"\xff\"}", `{"extra":1,"id":"x"}`,
		`[]`, `null`, ``,
	} {
		checkDecodeAsReflection(t, []byte(data))
	}
}

func FuzzDecodeJSON(f *testing.F) {
	ev := Event{ID: "e", Message: "m <&>\n", Labels: map[string]string{"k": "v"}, Time: time.Unix(1, 2).UTC()}
	own, _ := ev.AppendJSON(nil)
	f.Add(own)
	f.Add([]byte(`{"message":"\ud83d\ude00","time":"2026-12-03T01:02:03+09:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeAsReflection(t, data)
	})
}

func BenchmarkDecodeJSON(b *testing.B) {
	ev := Event{ID: "01JD0000000000000000000000", Source: "syslog", Target: "web01", Check: "sshd",
		Severity: Warning, Status: Problem, DedupKey: "web01/sshd",
		Message: "Failed password for invalid user admin from 127.0.0.1 port 52144 ssh2",
		Time:    time.Now(), Received: time.Now(), Labels: map[string]string{"facility": "auth", "app": "sshd"}}
	data, _ := ev.AppendJSON(nil)
	b.Run("own", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := DecodeJSON(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reflection", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var e Event
			if err := json.Unmarshal(data, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
