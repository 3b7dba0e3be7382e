package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
)

// samplesServer holds web01's CPU every minute of 2026-10-01 (value: the
// minute of the day modulo 100) and its two interfaces' traffic.
func samplesServer(t testing.TB) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var xs []ledger.Sample
	for m := range 1440 {
		at := d0.Add(time.Duration(m) * time.Minute)
		xs = append(xs, ledger.Sample{Target: "web01", Name: "snmp_cpu_load_avg_percent", Value: float64(m % 100), Time: at},
			ledger.Sample{Target: "web01", Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "eth0"}, Value: 1e6, Time: at},
			ledger.Sample{Target: "web01", Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "eth1"}, Value: 2e6, Time: at})
	}
	if err := s.AddSamples(ctx, xs); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(testGuard(), console.Deps{Store: s, Now: func() time.Time { return d0.Add(24 * time.Hour) }}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSamplesEndpoint(t *testing.T) {
	srv := samplesServer(t)
	base := srv.URL + "/api/v1/targets/web01/samples"
	get := func(q url.Values) (int, console.SamplesResponse) {
		var out console.SamplesResponse
		code := getJSON(t, base+"?"+q.Encode(), &out)
		return code, out
	}
	t.Run("RawLastHourByDefault", func(t *testing.T) {
		code, r := get(url.Values{"metric": {"snmp_cpu_load_avg_percent"}})
		if code != http.StatusOK || r.Step != "raw" || len(r.Series) != 1 || len(r.Series[0].Points) != 60 || r.Series[0].Unit != "%" {
			t.Fatalf("%d %+v", code, r)
		}
		if last := r.Series[0].Points[59]; last.Value != float64(1439%100) {
			t.Errorf("last point %+v, want 39", last)
		}
	})
	t.Run("DayAutoStepIsMinutes", func(t *testing.T) {
		code, r := get(url.Values{"from": {"2026-10-01T00:00:00Z"}, "to": {"2026-10-02T00:00:00Z"}, "labels": {"if=eth1"}})
		if code != http.StatusOK || r.Step != "1m" || len(r.Series) != 1 || r.Series[0].Labels["if"] != "eth1" ||
			len(r.Series[0].Points) != 1440 || r.Series[0].Unit != "bit/s" || r.Series[0].Points[0].Value != 2e6 {
			t.Fatalf("%d step %s, %d series", code, r.Step, len(r.Series))
		}
	})
	t.Run("MonthAtOneHour", func(t *testing.T) {
		code, r := get(url.Values{"from": {"2026-10-01T00:00:00Z"}, "to": {"2026-11-01T00:00:00Z"}, "step": {"1h"}, "metric": {"snmp_cpu_load_avg_percent"}})
		if code != http.StatusOK || r.Step != "1h" || len(r.Series[0].Points) != 24 {
			t.Fatalf("%d %+v", code, r)
		}
		p := r.Series[0].Points[0] // minutes 0..59
		if p.Min != 0 || p.Max != 59 || p.Count != 60 || p.Value != 29.5 {
			t.Errorf("first hour %+v", p)
		}
	})
	t.Run("Limits", func(t *testing.T) {
		for _, q := range []url.Values{
			{"from": {"2020-01-01T00:00:00Z"}, "to": {"2026-01-01T00:00:00Z"}},
			{"from": {"2026-10-02T00:00:00Z"}, "to": {"2026-10-01T00:00:00Z"}},
			{"step": {"5m"}},
			{"from": {"yesterday"}},
			{"labels": {"noequals"}},
		} {
			var e map[string]any
			if code := getJSON(t, base+"?"+q.Encode(), &e); code != http.StatusBadRequest {
				t.Errorf("%v: %d %v, want 400", q, code, e)
			}
		}
	})
	t.Run("UnauthorisedRefused", func(t *testing.T) {
		for _, c := range []struct {
			token string
			code  int
		}{{"", http.StatusUnauthorized}, {authtest.Token(auth.RoleMember, "node9"), http.StatusForbidden},
			{authtest.Token(auth.RoleAgent, "a1"), http.StatusForbidden}} {
			req, _ := http.NewRequest(http.MethodGet, base, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.code {
				t.Errorf("token %q: %d, want %d", c.token, resp.StatusCode, c.code)
			}
		}
	})
}

// FuzzSamplesQuery: any query string of the samples endpoint gets 200 or
// a 400 naming the problem, never a panic or a 5xx.
func FuzzSamplesQuery(f *testing.F) {
	for _, s := range []string{"metric=x&step=1h", "labels=a=b,c=d", "labels=,", "from=2026-10-01T00:00:00Z&to=2026-10-01T00:00:00Z",
		"step=raw&from=2026-09-30T23:00:00Z&to=2026-10-01T01:00:00Z", "step=24h", "step=-1h", "labels==", "from=9999-12-31T23:59:59Z"} {
		f.Add(s)
	}
	srv := samplesServer(f)
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			t.Skip()
		}
		q := vals.Encode()
		var out map[string]any
		code := getJSON(t, srv.URL+"/api/v1/targets/web01/samples?"+q, &out)
		if code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("%q: %d %v", q, code, out)
		}
		if code == http.StatusBadRequest && out["error"] == "" {
			t.Fatalf("%q: 400 without an error", q)
		}
	})
}
