package jsondur_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/internal/jsondur"
)

func TestRoundTrip(t *testing.T) {
	type job struct {
		Timeout jsondur.Duration `json:"timeout"`
	}
	for _, d := range []time.Duration{0, time.Nanosecond, 1500 * time.Millisecond, 10 * time.Minute, 26*time.Hour + 3*time.Second, -time.Second} {
		b, err := json.Marshal(job{jsondur.Duration(d)})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"timeout":"` + d.String() + `"}`
		if string(b) != want {
			t.Errorf("%v: %s, want %s", d, b, want)
		}
		var back job
		if err := json.Unmarshal(b, &back); err != nil || back.Timeout.D() != d {
			t.Errorf("%s: back %v, %v", b, back.Timeout, err)
		}
	}
}

// TestReadsNanoseconds: an answer of an older node (integer nanoseconds)
// still decodes; anything else is refused with the field's value named.
func TestReadsNanoseconds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		`600000000000`: 10 * time.Minute,
		`"10m"`:        10 * time.Minute,
		`"1h30m"`:      90 * time.Minute,
		` "250ms" `:    250 * time.Millisecond,
		`null`:         0,
	} {
		var d jsondur.Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.D() != want {
			t.Errorf("%s: %v, %v; want %v", in, d, err, want)
		}
	}
	for _, in := range []string{`"ten minutes"`, `1.5`, `"10"`, `99999999999999999999`, `true`, `{}`, `"` + string(make([]byte, 100)) + `"`} {
		var d jsondur.Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("%q: read as %v, want an error", in, d)
		}
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`"10m0s"`, `600000000000`, `null`, `"-1h"`, `"1.5µs"`, `-9223372036854775808`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d jsondur.Duration
		if err := d.UnmarshalJSON([]byte(in)); err != nil {
			return
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("%q read as %v, which does not marshal: %v", in, d, err)
		}
		var back jsondur.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != d {
			t.Fatalf("%q: %v → %s → %v, %v", in, d, b, back, err)
		}
	})
}
