package redact

import (
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Mask replaces every hidden part.
const Mask = "xxxxx"

// sensitiveExact are query and key=value keys hidden when they are the
// whole key (lower case, '-' and '_' removed).
var sensitiveExact = map[string]bool{
	"key": true, "sig": true, "pw": true, "pwd": true, "pass": true, "auth": true,
	"code": true, "jwt": true, "hmac": true, "otp": true, "sas": true,
}

// sensitiveParts are substrings that make any key sensitive.
var sensitiveParts = []string{
	"token", "secret", "passw", "passphrase", "apikey", "signature", "credential",
	"auth", "session", "accesskey", "privatekey", "clientsecret", "sessionid",
}

// SensitiveKey reports whether a query parameter or key=value key names
// a credential.
func SensitiveKey(k string) bool {
	k = strings.ToLower(k)
	k = strings.NewReplacer("-", "", "_", "", ".", "").Replace(k)
	if sensitiveExact[k] {
		return true
	}
	for _, p := range sensitiveParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// URL returns s with its credentials hidden: the password of the user
// information, the values of token-like query parameters and token-like
// path segments. The rest is kept as written. s need not be a valid URL.
func URL(s string) string { return redactURL(s, nil) }

// URLSecrets returns the parts of a URL that URL hides (a password, the
// values of token-like query parameters, token-like path segments), to
// hide them where they are quoted without the URL around them (a
// receiver's answer that echoes its path).
func URLSecrets(s string) []string {
	var out []string
	redactURL(s, func(part string) {
		if part != "" && part != Mask {
			out = append(out, part)
		}
	})
	return out
}

// Strip replaces every occurrence of each of secrets (of 4 bytes or more)
// in s with Mask.
func Strip(s string, secrets ...string) string {
	for _, x := range secrets {
		if len(x) >= 4 {
			s = strings.ReplaceAll(s, x, Mask)
		}
	}
	return s
}

// redactURL is URL; hidden, if set, is given each part it hides.
func redactURL(s string, hidden func(string)) string {
	if hidden == nil {
		hidden = func(string) {}
	}
	rest := s
	var b strings.Builder
	b.Grow(len(s))
	// scheme://authority
	if i := strings.Index(rest, "://"); i >= 0 && validScheme(rest[:i]) {
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		auth := rest[:end]
		// The last '@' ends the user information (a password may hold '@').
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			user := auth[:at]
			if c := strings.IndexByte(user, ':'); c >= 0 {
				hidden(user[c+1:])
				hidden(unescape(user[c+1:]))
				user = user[:c+1] + Mask
			}
			b.WriteString(user)
			b.WriteString(auth[at:])
		} else {
			b.WriteString(auth)
		}
		rest = rest[end:]
	}
	// path
	end := strings.IndexAny(rest, "?#")
	if end < 0 {
		end = len(rest)
	}
	b.WriteString(redactPath(rest[:end], hidden))
	rest = rest[end:]
	// query
	if strings.HasPrefix(rest, "?") {
		end := strings.IndexByte(rest, '#')
		if end < 0 {
			end = len(rest)
		}
		b.WriteByte('?')
		b.WriteString(redactQuery(rest[1:end], hidden))
		rest = rest[end:]
	}
	// fragment: may carry tokens too (OAuth implicit flow)
	if strings.HasPrefix(rest, "#") {
		b.WriteByte('#')
		b.WriteString(redactQuery(rest[1:], hidden))
	}
	return b.String()
}

func validScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func redactPath(p string, hidden func(string)) string {
	if p == "" {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if TokenLike(s) {
			hidden(s)
			segs[i] = Mask
		}
	}
	return strings.Join(segs, "/")
}

// TokenLike reports whether s looks like a generated token: at least 16
// characters, letters and digits mixed, nothing but letters, digits, '-',
// '_', '.', '~', '%', '+', '=' (a long word or a number alone is not).
func TokenLike(s string) bool {
	if len(s) < 16 {
		return false
	}
	var letters, digits int
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c):
			letters++
		case c >= '0' && c <= '9':
			digits++
		case strings.IndexByte("-_.~%+=", c) >= 0:
		default:
			return false
		}
	}
	return letters > 0 && digits > 0
}

// redactQuery hides the values of sensitive keys in a&b=c&d;e=f.
func redactQuery(q string, hidden func(string)) string {
	if q == "" {
		return q
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		b.WriteString(redactPair(q[start:i], hidden))
		if i < len(q) {
			b.WriteByte(q[i])
		}
		start = i + 1
	}
	return b.String()
}

func redactPair(p string, hidden func(string)) string {
	k, v, ok := strings.Cut(p, "=")
	if !ok {
		if TokenLike(p) {
			hidden(p)
			return Mask
		}
		return p
	}
	if v == "" || v == Mask {
		return p
	}
	if SensitiveKey(unescape(k)) || TokenLike(v) {
		hidden(v)
		hidden(unescape(v))
		return k + "=" + Mask
	}
	return p
}

func unescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		if c == '+' {
			c = ' '
		}
		b.WriteByte(c)
	}
	return b.String()
}

// DSN returns a PostgreSQL connection string with its password hidden: a
// URL (postgres://user:password@host/db?password=...) through [URL], a
// key=value string (host=db password='...' sslmode=...) with the value of
// every sensitive key hidden. What does not parse as key=value from the
// first sensitive key on is hidden to the end.
func DSN(s string) string {
	if t := strings.TrimSpace(s); strings.Contains(t, "://") {
		return URL(s)
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		// spaces
		j := i
		for j < len(s) && isSpace(s[j]) {
			j++
		}
		b.WriteString(s[i:j])
		i = j
		if i >= len(s) {
			break
		}
		// key
		j = i
		for j < len(s) && s[j] != '=' && !isSpace(s[j]) {
			j++
		}
		key := s[i:j]
		// spaces and '='
		k := j
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if k >= len(s) || s[k] != '=' {
			// not key=value: keep the word, unless it looks like a token
			if TokenLike(key) {
				b.WriteString(Mask)
			} else {
				b.WriteString(key)
			}
			i = j
			continue
		}
		k++
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		// value: 'quoted' with \ escapes, or up to a space
		v := k
		if v < len(s) && s[v] == '\'' {
			v++
			closed := false
			for v < len(s) {
				if s[v] == '\\' && v+1 < len(s) {
					v += 2
					continue
				}
				if s[v] == '\'' {
					v++
					closed = true
					break
				}
				v++
			}
			if !closed && SensitiveKey(key) {
				b.WriteString(s[i:k])
				b.WriteString(Mask)
				return b.String()
			}
		} else {
			for v < len(s) && !isSpace(s[v]) {
				if s[v] == '\\' && v+1 < len(s) {
					v++
				}
				v++
			}
		}
		b.WriteString(s[i:k])
		if val := s[k:v]; val != "" && (SensitiveKey(key) || TokenLike(strings.Trim(val, "'"))) && val != Mask {
			b.WriteString(Mask)
		} else {
			b.WriteString(val)
		}
		i = v
	}
	// What the scan read otherwise (a stray quote) is caught here.
	return maskPairs(b.String())
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

var (
	// urlRE finds URLs in free text: scheme://... up to a space or a quote.
	urlRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]{0,31}://[^\s"'<>` + "`" + `]+`)
	// kvRE finds key=value credentials in free text.
	kvRE = regexp.MustCompile(`(?i)\b([a-z0-9_.\-]*(?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key|apikey|credential|signature|sig|auth)[a-z0-9_\-]*)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|['"]\S*|[^\s&,;"')\]}` + "`" + `]+)`)
	// bearerRE finds Authorization header values.
	bearerRE = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]{8,}=*`)
)

// Text returns s with every URL in it redacted as by [URL], and the value
// of every key=value pair whose key names a credential, and every bearer
// or basic credential, hidden.
func Text(s string) string {
	s = urlRE.ReplaceAllStringFunc(s, func(m string) string {
		// Punctuation that ends a sentence or a clause is not the URL's.
		u := strings.TrimRight(m, ":.,;)]}")
		return URL(u) + m[len(u):]
	})
	s = maskPairs(s)
	s = bearerRE.ReplaceAllStringFunc(s, func(m string) string {
		f := strings.FieldsFunc(m, unicode.IsSpace)
		return f[0] + " " + Mask
	})
	return s
}

// maskPairs hides the values of key=value pairs whose key names a
// credential.
func maskPairs(s string) string {
	return kvRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := kvRE.FindStringSubmatch(m)
		if sub == nil || strings.TrimRight(sub[3], ":.") == Mask || !SensitiveKey(sub[1]) {
			return m
		}
		return sub[1] + sub[2] + Mask
	})
}

// Err returns err with a redacted message ([Text]); errors.Is and errors.As
// still see err. nil stays nil.
func Err(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := Text(msg)
	if red == msg {
		return err
	}
	return &redacted{msg: red, err: err}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// IsRedacted reports whether err was wrapped by [Err].
func IsRedacted(err error) bool {
	var r *redacted
	return errors.As(err, &r)
}

// SecretURL is a URL that may carry credentials (a webhook URL with a
// token, a check URL with user:password@): it prints and marshals as
// [URL] gives it. string(u) is the URL itself.
type SecretURL string

// String returns the redacted URL.
func (u SecretURL) String() string { return URL(string(u)) }

// GoString quotes the redacted URL (%#v).
func (u SecretURL) GoString() string { return strconv.Quote(u.String()) }

// MarshalYAML gives the redacted URL.
func (u SecretURL) MarshalYAML() (any, error) { return u.String(), nil }

// MarshalJSON gives the redacted URL.
func (u SecretURL) MarshalJSON() ([]byte, error) { return json.Marshal(u.String()) }

// MarshalText gives the redacted URL.
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// SecretDSN is a PostgreSQL connection string (URL or key=value): it
// prints and marshals as [DSN] gives it. string(d) is the DSN itself.
type SecretDSN string

// String returns the redacted DSN.
func (d SecretDSN) String() string { return DSN(string(d)) }

// GoString quotes the redacted DSN (%#v).
func (d SecretDSN) GoString() string { return strconv.Quote(d.String()) }

// MarshalYAML gives the redacted DSN.
func (d SecretDSN) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON gives the redacted DSN.
func (d SecretDSN) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalText gives the redacted DSN.
func (d SecretDSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
