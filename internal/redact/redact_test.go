package redact

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://example.com/healthz", "https://example.com/healthz"},
		{"https://bob:s3cr3t@example.com/x", "https://bob:xxxxx@example.com/x"},
		{"https://bob:p@ss@word@example.com", "https://bob:xxxxx@example.com"},
		{"https://bob@example.com/", "https://bob@example.com/"},
		{"https://h/hook?token=abc&x=1", "https://h/hook?token=xxxxx&x=1"},
		{"https://h/hook?access_token=abc;api-key=k&Signature=s&sig=q&page=2", "https://h/hook?access_token=xxxxx;api-key=xxxxx&Signature=xxxxx&sig=xxxxx&page=2"},
		{"https://h/?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=ff", "https://h/?X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx"},
		{"https://h/?pass%77ord=x", "https://h/?pass%77ord=xxxxx"},
		{"https://hooks.slack.com/services/T0000/B0000/aB3dE5gH7jK9mN1pQ3sT5vW7", "https://hooks.slack.com/services/T0000/B0000/xxxxx"},
		{"https://h/a/very-long-word-without-digits", "https://h/a/very-long-word-without-digits"},
		{"https://h/id/123456789012345678901", "https://h/id/123456789012345678901"},
		{"https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=xxxxx&state=1"},
		{"https://h/?q=aB3dE5gH7jK9mN1pQ3sT5", "https://h/?q=xxxxx"},
		{"nats://u:p@127.0.0.1:4222", "nats://u:xxxxx@127.0.0.1:4222"},
		{"not a url", "not a url"},
		{"", ""},
		{"https://bob:xxxxx@h/?token=xxxxx", "https://bob:xxxxx@h/?token=xxxxx"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := URL(tc.in); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDSN(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://monitor:pw@db:5432/postgres?sslmode=disable", "postgres://monitor:xxxxx@db:5432/postgres?sslmode=disable"},
		{"postgres://monitor@db/postgres?password=pw", "postgres://monitor@db/postgres?password=xxxxx"},
		{"host=db user=monitor password=pw sslmode=disable", "host=db user=monitor password=xxxxx sslmode=disable"},
		{"host=db password = 'p w\\' x' dbname=postgres", "host=db password = xxxxx dbname=postgres"},
		{"host=db password='unterminated dbname=x", "host=db password=xxxxx"},
		{"host=db sslpassword=pw", "host=db sslpassword=xxxxx"},
		{"host=db dbname=postgres", "host=db dbname=postgres"},
		{"host=db password=", "host=db password="},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := DSN(tc.in); got != tc.want {
				t.Errorf("DSN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`Get "https://u:pw@127.0.0.1:1/x?token=tk": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Get "https://u:xxxxx@127.0.0.1:1/x?token=xxxxx": dial tcp 127.0.0.1:1: connect: connection refused`},
		{"cannot parse `host=db password=pw`: failed", "cannot parse `host=db password=xxxxx`: failed"},
		{"Authorization: Bearer abcdefghijkl", "Authorization: Bearer xxxxx"},
		{"smtp auth: 535 authentication failed", "smtp auth: 535 authentication failed"},
		{"invalid token received", "invalid token received"},
		{"api_key=AB12 and design=x", "api_key=xxxxx and design=x"},
		{"post https://h/x?sig=abc: HTTP 502 (see https://h/?token=t).", "post https://h/x?sig=xxxxx: HTTP 502 (see https://h/?token=xxxxx)."},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestURLSecrets(t *testing.T) {
	u := "https://bob:p%40ss@h/services/T0/aB3dE5gH7jK9mN1pQ3sT5vW7?token=t%2Bk&page=2"
	got := strings.Join(URLSecrets(u), " ")
	if want := "p%40ss p@ss aB3dE5gH7jK9mN1pQ3sT5vW7 t%2Bk t+k"; got != want {
		t.Errorf("URLSecrets = %q, want %q", got, want)
	}
	body := "no hook at /services/T0/aB3dE5gH7jK9mN1pQ3sT5vW7 for p@ss"
	if got := Strip(body, URLSecrets(u)...); got != "no hook at /services/T0/xxxxx for xxxxx" {
		t.Errorf("Strip = %q", got)
	}
}

func TestErr(t *testing.T) {
	base := &url.Error{Op: "Post", URL: "https://h/hook?token=tk", Err: errors.New("refused")}
	err := Err(fmt.Errorf("webhook: %w", base))
	if strings.Contains(err.Error(), "tk") || !strings.Contains(err.Error(), "token=xxxxx") {
		t.Errorf("Err: %q", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || !IsRedacted(err) {
		t.Error("Err: the wrapped error is not reachable")
	}
	if Err(nil) != nil {
		t.Error("Err(nil) != nil")
	}
	plain := errors.New("plain")
	if Err(plain) != plain {
		t.Error("Err wrapped an error with nothing to hide")
	}
}

func TestSecretTypes(t *testing.T) {
	type cfg struct {
		URL SecretURL `yaml:"url" json:"url"`
		DSN SecretDSN `yaml:"dsn" json:"dsn"`
	}
	c := cfg{URL: "https://u:pw1@h/x?token=tk1", DSN: "host=h password=pw2"}
	y, _ := yaml.Marshal(c)
	j, _ := json.Marshal(c)
	for _, out := range []string{string(y), string(j), fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c.URL)} {
		for _, s := range []string{"pw1", "tk1", "pw2"} {
			if strings.Contains(out, s) {
				t.Errorf("%q shows %q", out, s)
			}
		}
	}
	if string(c.URL) != "https://u:pw1@h/x?token=tk1" {
		t.Error("string(SecretURL) changed the value")
	}
}

// FuzzURL checks that redaction never panics, is idempotent, and hides a
// password and a token placed where credentials go.
func FuzzURL(f *testing.F) {
	f.Add("https", "bob", "s3cr3t", "example.com", "/x", "token", "t0k3n")
	f.Add("postgres", "u", "p@ss:w/rd", "db:5432", "/postgres", "password", "x")
	f.Add("http", "", "pw", "h", "", "q", "v")
	f.Fuzz(func(t *testing.T, scheme, user, pass, host, path, key, val string) {
		for _, s := range []string{scheme, user, pass, host, path, key, val} {
			URL(s)
			DSN(s)
			Text(s)
		}
		if !validScheme(scheme) || strings.ContainsAny(host, "/?#@") || strings.ContainsAny(path, "?#") {
			return
		}
		if path != "" && path[0] != '/' {
			path = "/" + path
		}
		u := scheme + "://" + url.PathEscape(user) + ":" + url.QueryEscape(pass) + "@" + host + path
		if key != "" {
			u += "?" + url.QueryEscape(key) + "=" + url.QueryEscape(val)
		}
		got := URL(u)
		if URL(got) != got {
			t.Errorf("not idempotent: %q → %q → %q", u, got, URL(got))
		}
		if Text(got) != got {
			t.Errorf("Text not idempotent on %q: %q", got, Text(got))
		}
		if ep := url.QueryEscape(pass); len(ep) >= 4 && !strings.Contains(scheme+user+host+path+key+val+Mask, ep) && strings.Contains(got, ep) {
			t.Errorf("URL(%q) = %q shows the password", u, got)
		}
		if SensitiveKey(key) {
			if ev := url.QueryEscape(val); len(ev) >= 4 && !strings.Contains(scheme+user+host+path+key+Mask, ev) && strings.Contains(got, ev) {
				t.Errorf("URL(%q) = %q shows the %s value", u, got, key)
			}
		}
		if tg := Text("error: " + u + " failed"); strings.Contains(tg, u) && u != URL(u) {
			t.Errorf("Text kept %q", u)
		}
	})
}

// FuzzDSN checks key=value redaction of a password.
func FuzzDSN(f *testing.F) {
	f.Add("db", "s3cr3tpw", "disable")
	f.Add("h", "with space", "x")
	f.Fuzz(func(t *testing.T, host, pass, mode string) {
		esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(pass)
		dsn := "host=" + strings.Fields(host + " x")[0] + " password='" + esc + "' sslmode=x"
		got := DSN(dsn)
		if DSN(got) != got {
			t.Errorf("not idempotent: %q → %q", dsn, got)
		}
		if len(esc) >= 4 && strings.Contains(got, esc) && !strings.Contains(dsn[:strings.Index(dsn, "password=")]+" sslmode=x"+Mask, esc) {
			t.Errorf("DSN(%q) = %q shows the password", dsn, got)
		}
		_ = mode
	})
}
