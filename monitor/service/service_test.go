package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/internal/redact"
)

func pgURL() string {
	if u := os.Getenv("UNYO_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func mustCfg(t *testing.T, c Config) *Config {
	t.Helper()
	c.Defaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	r := Check(context.Background(), "127.0.0.1", mustCfg(t, Config{Type: TCP, Port: port}))
	if r.Err != nil || r.Duration <= 0 {
		t.Fatalf("open port: %+v", r)
	}
	ln.Close()
	r = Check(context.Background(), "127.0.0.1", mustCfg(t, Config{Type: TCP, Port: port}))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "connection refused") {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tsrv := httptest.NewTLSServer(mux)
	defer tsrv.Close()

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
		status  int
	}{
		{"ok", Config{URL: redact.SecretURL(srv.URL + "/ok")}, "", 200},
		{"body matches", Config{URL: redact.SecretURL(srv.URL + "/ok"), BodyRegexp: `"status":"ok"`}, "", 200},
		{"body mismatch", Config{URL: redact.SecretURL(srv.URL + "/ok"), BodyRegexp: `"status":"fine"`}, "body does not match", 200},
		{"503", Config{URL: redact.SecretURL(srv.URL + "/down")}, "unexpected HTTP status: got 503, want 2xx or 3xx", 503},
		{"503 expected", Config{URL: redact.SecretURL(srv.URL + "/down"), ExpectStatus: []int{503}}, "", 503},
		{"404 not expected", Config{URL: redact.SecretURL(srv.URL + "/nothing"), ExpectStatus: []int{200, 204}}, "unexpected HTTP status: got 404, want 200 204", 404},
		{"timeout", Config{URL: redact.SecretURL(srv.URL + "/slow"), Timeout: 200 * time.Millisecond, Interval: time.Second}, "http check timed out after 200ms", 0},
		{"tls self-signed refused", Config{URL: redact.SecretURL(tsrv.URL + "/ok")}, "certificate", 0},
		{"tls skip verify", Config{URL: redact.SecretURL(tsrv.URL + "/ok"), TLSSkipVerify: true}, "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Type = HTTP
			r := Check(context.Background(), "127.0.0.1", mustCfg(t, tc.cfg))
			if tc.wantErr == "" && r.Err != nil || tc.wantErr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", r.Err, tc.wantErr)
			}
			if r.Status != tc.status {
				t.Errorf("status %d, want %d", r.Status, tc.status)
			}
			if tc.wantErr == "" && r.Duration <= 0 {
				t.Errorf("no response time")
			}
		})
	}
	// Without a URL the check asks http://<address>:<port>/.
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int
	fmt.Sscan(port, &p)
	r := Check(context.Background(), host, mustCfg(t, Config{Type: HTTP, Port: p, ExpectStatus: []int{404}}))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
}

func TestPostgres(t *testing.T) {
	r := Check(context.Background(), "", mustCfg(t, Config{Type: Postgres, DSN: redact.SecretDSN(pgURL()), Query: "SELECT 1, now()"}))
	if r.Err != nil {
		t.Fatalf("PostgreSQL at %s (set UNYO_TEST_POSTGRES_URL; make test-deps starts it): %v", pgURL(), r.Err)
	}
	if r.Duration <= 0 {
		t.Error("no response time")
	}
	r = Check(context.Background(), "", mustCfg(t, Config{Type: Postgres, DSN: redact.SecretDSN(pgURL()), Query: "SELECT * FROM no_such_table_unyo"}))
	if r.Err == nil || !strings.Contains(r.Err.Error(), "no_such_table_unyo") {
		t.Fatalf("bad query: %v", r.Err)
	}
	// Nothing listens on this port.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	r = Check(context.Background(), "", mustCfg(t, Config{Type: Postgres, DSN: redact.SecretDSN("postgres://u:hunter2@" + addr + "/x?sslmode=disable")}))
	if r.Err == nil || strings.Contains(r.Err.Error(), "hunter2") {
		t.Fatalf("dead server: %v", r.Err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		c    Config
		want string
	}{
		{Config{}, "type: required (tcp, http or postgres)"},
		{Config{Type: "smtp"}, `type: "smtp": want tcp, http or postgres`},
		{Config{Type: TCP}, "port: required for tcp checks without address"},
		{Config{Type: HTTP, URL: "ftp://x"}, `url: "ftp://x": want an absolute http:// or https:// URL`},
		{Config{Type: HTTP, ExpectStatus: []int{99}}, "expect_status[0]: 99: not an HTTP status"},
		{Config{Type: HTTP, BodyRegexp: "("}, "body_regexp: error parsing regexp: missing closing ): `(`"},
		{Config{Type: TCP, Port: 1, BodyRegexp: "x"}, "body_regexp: only for http checks"},
		{Config{Type: Postgres}, "dsn: required for postgres checks"},
		{Config{Type: TCP, Port: 1, Interval: time.Millisecond}, "interval: 1ms: must be at least 1s"},
	}
	for _, tc := range tests {
		c := tc.c
		c.Defaults()
		if err := c.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h/db":           "postgres://u:xxxxx@h/db",
		"host=h user=u password=pw db=x": "host=h user=u password=xxxxx db=x",
		"postgres://u@h/db":              "postgres://u@h/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if s := (Config{Type: Postgres, DSN: "postgres://u:pw@h/db"}).String(); strings.Contains(s, "pw@") {
		t.Error(s)
	}
	_ = errors.New
}

// TestErrorsHideCredentials: a failed check's error (which becomes the event
// and incident message) never carries the URL's or DSN's credentials, though
// net/http and pgx quote what they were given.
func TestErrorsHideCredentials(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	ln.Close() // nothing listens there now
	for _, c := range []Config{
		{Type: HTTP, URL: redact.SecretURL("http://mon:pw-Sentinel1@" + addr + "/x?token=tok-Sentinel2&page=1")},
		{Type: HTTP, URL: redact.SecretURL("http://" + addr + "/hook/aB3dE5gH7jK9mN1pQ3sT5vW7")},
		{Type: Postgres, DSN: redact.SecretDSN("host=127.0.0.1 port=" + port + " user=u password=pw-Sentinel3 dbname=x sslmode=disable")},
		{Type: Postgres, DSN: redact.SecretDSN("postgres://u:pw-Sentinel4@" + addr + "/x?sslmode=disable")},
		{Type: Postgres, DSN: redact.SecretDSN("host=127.0.0.1 port=notaport password=pw-Sentinel5")},
	} {
		r := Check(context.Background(), "127.0.0.1", mustCfg(t, c))
		if r.Err == nil {
			t.Fatalf("%s: the check passed", c)
		}
		for _, s := range []string{"Sentinel", "aB3dE5gH7jK9mN1pQ3sT5vW7"} {
			if strings.Contains(r.Err.Error(), s) || strings.Contains(c.String(), s) || strings.Contains(fmt.Sprintf("%+v", c), s) {
				t.Errorf("%s: %q shows a secret", c, r.Err)
			}
		}
		t.Logf("%s: %v", c, r.Err)
	}
}
