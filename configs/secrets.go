package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/unyo-ops/unyo/internal/redact"
	"github.com/unyo-ops/unyo/internal/secretbox"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/trap"
)

// Secret values. A field of one of the secret types (secretTypes: Secret,
// URLs, the SNMP and trap secrets, redact.SecretURL and redact.SecretDSN)
// may be written in the file as
//
//	${env:NAME}      the value of the environment variable NAME
//	file:PATH        the content of the file PATH (relative to the config
//	                 file's directory; one trailing line break dropped)
//	enc:v1:...       a value sealed under the cluster secret key (what the
//	                 cluster replicates; see SealShared)
//
// or as the value itself. References are resolved when the file is
// loaded, on each node, so the same file works with each node's own
// environment; an error names the file, line, field and the variable or
// path, never a value.

// secretTypes are the config types whose values are secrets.
var secretTypes = map[reflect.Type]bool{
	reflect.TypeFor[Secret]():           true,
	reflect.TypeFor[URLs]():             true,
	reflect.TypeFor[snmp.Secret]():      true,
	reflect.TypeFor[trap.Secret]():      true,
	reflect.TypeFor[redact.SecretURL](): true,
	reflect.TypeFor[redact.SecretDSN](): true,
}

// ParseOptions are the optional inputs of ParseWith.
type ParseOptions struct {
	// SecretKey returns the cluster secret key that opens enc:v1: values;
	// it is called only when the file holds one. nil: such a value is an
	// error.
	SecretKey func() ([]byte, error)
	// LookupEnv resolves ${env:NAME}; nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Dir, if set, is the directory relative file: references resolve
	// against instead of the named file's (a config posted to a node
	// resolves them where the node's own file is).
	Dir string
}

// maxSecretFile bounds a file: reference.
const maxSecretFile = 64 << 10

var envRefRE = regexp.MustCompile(`^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$`)

const (
	envRefPrefix  = "${"
	fileRefPrefix = "file:"
)

// IsSecretReference reports whether a secret is written as a reference
// (${env:NAME} or file:PATH) or sealed (enc:v1:), rather than in clear.
func IsSecretReference(s string) bool {
	return strings.HasPrefix(s, envRefPrefix) || strings.HasPrefix(s, fileRefPrefix) || secretbox.IsSealed(s)
}

// secret decodes the scalar n into v, a secret type, resolving a
// reference or opening a sealed value.
func (d *decoder) secret(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n.Line, path, "want a string, got %s", describe(n))
		return
	}
	if d.collect != nil {
		d.collect(n, path)
		v.SetString(n.Value)
		return
	}
	val, err := d.resolveSecret(n.Value)
	if err != nil {
		d.errf(n.Line, path, "%v", err)
		return
	}
	v.SetString(val)
}

// resolveSecret returns the value a secret field stands for. Its errors
// never include the value.
func (d *decoder) resolveSecret(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, envRefPrefix):
		m := envRefRE.FindStringSubmatch(s)
		if m == nil {
			return "", errors.New("a reference must be ${env:NAME} with NAME of A-Z, a-z, 0-9, '_' (write a value starting with \"${\" in a file: reference)")
		}
		lookup := d.opts.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		val, ok := lookup(m[1])
		if !ok {
			return "", fmt.Errorf("environment variable %s is not set", m[1])
		}
		if val == "" {
			return "", fmt.Errorf("environment variable %s is empty", m[1])
		}
		return val, nil
	case strings.HasPrefix(s, fileRefPrefix):
		p := strings.TrimPrefix(s, fileRefPrefix)
		if p == "" {
			return "", errors.New("file: wants a path, e.g. file:/etc/unyo/smtp.pass")
		}
		return readSecretFile(resolvePath(d.dir, p))
	case secretbox.IsSealed(s):
		if d.opts.SecretKey == nil {
			return "", errors.New("a sealed value (enc:v1:) opens only with the cluster secret key, in the cluster's replicated configuration; write the value, ${env:NAME} or file:PATH here")
		}
		key, err := d.opts.SecretKey()
		if err != nil {
			return "", fmt.Errorf("sealed value: %w", err)
		}
		val, err := secretbox.Open(key, s)
		if err != nil {
			return "", fmt.Errorf("sealed value: %w", err)
		}
		return val, nil
	}
	return s, nil
}

func readSecretFile(path string) (string, error) {
	// Stat first: opening a FIFO or a device could block the loader.
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("file:%s: no such file", path)
	case err != nil:
		return "", fmt.Errorf("file:%s: %v", path, errors.Unwrap(err))
	case fi.IsDir():
		return "", fmt.Errorf("file:%s: a directory, want a file", path)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("file:%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("file:%s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("file:%s: %v", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("file:%s: larger than %d bytes", path, maxSecretFile)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return "", fmt.Errorf("file:%s: empty", path)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("file:%s: not UTF-8 text", path)
	}
	return string(b), nil
}

// SharedSections are the top-level sections a cluster replicates and every
// member takes from the replicated configuration.
var SharedSections = []string{"monitor", "alerting", "jobnets", "backup", "runbooks"}

// SealShared returns what of the configuration file data the cluster
// replicates through Raft: the shared sections (SharedSections), the
// lines of the others blanked so line numbers stay, with every secret
// written in clear replaced by its sealed form ("enc:v1:...", under the key
// opts.SecretKey returns; called only when there is one). References (${env:NAME},
// file:PATH) stay as written, to be resolved on each member. When blanking
// would change what the shared sections mean (a flow-style top level, an
// alias into a local section), the whole file is kept, sealed. The result
// parses (ParseWith with opts) to the same shared sections as data.
func SealShared(name string, data []byte, opts ParseOptions) ([]byte, error) {
	key := opts.SecretKey
	if key == nil {
		key = func() ([]byte, error) { return nil, secretbox.ErrNoKey }
		opts.SecretKey = key
	}
	orig, err := ParseWith(name, data, opts)
	if err != nil {
		return nil, err
	}
	out := data
	if stripped, ok := blankLocalSections(data); ok {
		if c, err := ParseWith(name, stripped, opts); err == nil && sameShared(c, orig) {
			out = stripped
		}
	}
	sealed, err := sealSecrets(name, out, key)
	if err != nil {
		return nil, err
	}
	back, err := ParseWith(name, sealed, opts)
	if err != nil {
		return nil, fmt.Errorf("sealed config does not load: %w", err)
	}
	if !sameShared(back, orig) {
		return nil, errors.New("sealed config differs from the original (a bug in configs)")
	}
	return sealed, nil
}

func sameShared(a, b *Config) bool {
	return reflect.DeepEqual(a.Monitor, b.Monitor) && reflect.DeepEqual(a.Alerting, b.Alerting) &&
		reflect.DeepEqual(a.Jobnets, b.Jobnets)
}

// blankLocalSections replaces the lines of every top-level section that is
// not shared with empty lines. ok is false when the top level is not a
// block mapping whose keys start their lines.
func blankLocalSections(data []byte) ([]byte, bool) {
	root, err := parseYAML("", data)
	if err != nil || root == nil || root.Kind != yaml.MappingNode || root.Style&yaml.FlowStyle != 0 {
		return nil, false
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	type span struct {
		first  int // line of the key, 1-based
		shared bool
	}
	var spans []span
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Column != 1 || k.Kind != yaml.ScalarNode {
			return nil, false
		}
		spans = append(spans, span{first: k.Line, shared: isShared(k.Value)})
	}
	for i, s := range spans {
		if s.shared {
			continue
		}
		last := len(lines) // through the end
		if i+1 < len(spans) {
			last = spans[i+1].first - 1
		}
		for l := s.first; l <= last && l <= len(lines); l++ {
			if bytes.HasSuffix(lines[l-1], []byte("\n")) {
				lines[l-1] = []byte("\n")
			} else {
				lines[l-1] = nil
			}
		}
	}
	return bytes.Join(lines, nil), true
}

func isShared(section string) bool {
	for _, s := range SharedSections {
		if s == section {
			return true
		}
	}
	return false
}

// sealSecrets replaces every secret written in clear in data with its
// sealed form. It edits the bytes in place of each value, so the rest of
// the file (comments, layout, line numbers) stays; where a value's text
// cannot be found (a multi-line or tagged scalar, an anchor), it encodes
// the whole document again instead.
func sealSecrets(name string, data []byte, key func() ([]byte, error)) ([]byte, error) {
	root, err := parseYAML(name, data)
	if err != nil || root == nil {
		return data, err
	}
	var found []*yaml.Node
	seen := map[*yaml.Node]bool{}
	d := &decoder{file: name, lines: map[string]int{}, collect: func(n *yaml.Node, _ string) {
		if n.Value != "" && !IsSecretReference(n.Value) && !seen[n] {
			seen[n] = true
			found = append(found, n)
		}
	}}
	c := &Config{}
	for _, s := range c.sections() {
		s.sec.defaults()
	}
	d.decodeRoot(root, reflect.ValueOf(c).Elem())
	if len(d.errs) > 0 {
		return nil, joinErrors(d.errs)
	}
	if len(found) == 0 {
		return data, nil
	}
	k, err := key()
	if err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	sealed := make([]string, len(found))
	for i, n := range found {
		if sealed[i], err = secretbox.Seal(k, n.Value); err != nil {
			return nil, fmt.Errorf("seal secrets: %w", err)
		}
	}
	if out, ok := replaceScalars(data, found, sealed); ok {
		return out, nil
	}
	for i, n := range found {
		n.Value, n.Style, n.Tag, n.Anchor = sealed[i], yaml.DoubleQuotedStyle, "!!str", ""
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("seal secrets: %w", err)
	}
	_ = enc.Close()
	return b.Bytes(), nil
}

// replaceScalars writes each sealed value, double-quoted, where the text of
// its node is in data. ok is false if one node's text cannot be found.
func replaceScalars(data []byte, nodes []*yaml.Node, with []string) ([]byte, bool) {
	lineStart := []int{0}
	for i, c := range data {
		if c == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	type edit struct {
		from, to int
		text     string
	}
	var edits []edit
	for i, n := range nodes {
		if n.Line < 1 || n.Line > len(lineStart) || n.Column < 1 || n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
			return nil, false
		}
		off := lineStart[n.Line-1]
		for col := 1; col < n.Column; col++ { // columns count characters
			if off >= len(data) || data[off] == '\n' {
				return nil, false
			}
			_, size := utf8.DecodeRune(data[off:])
			off += size
		}
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			// A block scalar: the indicator line takes the sealed value,
			// the content lines are emptied (line numbers stay).
			lines, ok := blockLines(data, lineStart, n.Line, off)
			if !ok {
				return nil, false
			}
			edits = append(edits, edit{off, lineEnd(data, off), `"` + with[i] + `"`})
			for _, l := range lines {
				edits = append(edits, edit{lineStart[l-1], lineEnd(data, lineStart[l-1]), ""})
			}
			continue
		}
		end, ok := scalarEnd(data, off, n)
		if !ok {
			return nil, false
		}
		edits = append(edits, edit{off, end, `"` + with[i] + `"`})
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].from < edits[j].from })
	var b bytes.Buffer
	last := 0
	for _, e := range edits {
		if e.from < last {
			return nil, false
		}
		b.Write(data[last:e.from])
		b.WriteString(e.text)
		last = e.to
	}
	b.Write(data[last:])
	return b.Bytes(), true
}

func lineEnd(data []byte, off int) int {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return off + i
	}
	return len(data)
}

// blockLines returns the content lines (1-based) of the block scalar whose
// indicator (| or >) is at off on line line: the lines after it that are
// blank or indented at least as much as its first non-blank one, which
// must be indented more than the indicator's line.
func blockLines(data []byte, lineStart []int, line, off int) ([]int, bool) {
	ind := bytes.TrimRight(data[off:lineEnd(data, off)], " \t\r")
	if len(ind) == 0 || (ind[0] != '|' && ind[0] != '>') || bytes.ContainsAny(ind, "#") ||
		strings.Trim(string(ind[1:]), "+-0123456789") != "" {
		return nil, false
	}
	indentOf := func(l int) (int, bool) { // indentation, and whether blank
		text := data[lineStart[l-1]:lineEnd(data, lineStart[l-1])]
		t := bytes.TrimLeft(text, " ")
		return len(text) - len(t), len(bytes.TrimSpace(t)) == 0
	}
	parent, _ := indentOf(line)
	var out []int
	want := -1
	for l := line + 1; l <= len(lineStart); l++ {
		in, blank := indentOf(l)
		if blank {
			out = append(out, l)
			continue
		}
		if want < 0 {
			if in <= parent {
				break
			}
			want = in
		}
		if in < want {
			break
		}
		out = append(out, l)
	}
	// Trailing blank lines belong to what follows.
	for len(out) > 0 {
		if _, blank := indentOf(out[len(out)-1]); !blank {
			break
		}
		out = out[:len(out)-1]
	}
	return out, want >= 0
}

// scalarEnd returns the offset after the text of scalar n starting at off,
// on the same line.
func scalarEnd(data []byte, off int, n *yaml.Node) (int, bool) {
	if off >= len(data) {
		return 0, false
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if data[off] != '"' {
			return 0, false
		}
		for i := off + 1; i < len(data) && data[i] != '\n'; i++ {
			switch data[i] {
			case '\\':
				i++
			case '"':
				return i + 1, true
			}
		}
	case n.Style&yaml.SingleQuotedStyle != 0:
		if data[off] != '\'' {
			return 0, false
		}
		for i := off + 1; i < len(data) && data[i] != '\n'; i++ {
			if data[i] == '\'' {
				if i+1 < len(data) && data[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, true
			}
		}
	default: // plain
		if strings.ContainsAny(n.Value, "\n\r") || !bytes.HasPrefix(data[off:], []byte(n.Value)) {
			return 0, false
		}
		end := off + len(n.Value)
		if end == len(data) || strings.IndexByte(" \t\r\n,]}#", data[end]) >= 0 {
			return end, true
		}
	}
	return 0, false
}

// hasSecretValues reports whether c holds a non-empty secret (which
// prints as "<secret>" or redacted, so c does not load back from its
// print).
func hasSecretValues(c *Config) bool {
	found := false
	secretValues(reflect.ValueOf(c).Elem(), "", func(string, string) { found = true })
	return found
}

// secretValues calls fn with the path and value of every non-empty secret
// in v (a config struct), for tests and checks.
func secretValues(v reflect.Value, path string, fn func(path, val string)) {
	switch {
	case !v.IsValid():
	case secretTypes[v.Type()]:
		if v.String() != "" {
			fn(path, v.String())
		}
	case v.Kind() == reflect.Pointer:
		if !v.IsNil() {
			secretValues(v.Elem(), path, fn)
		}
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				secretValues(v.Field(i), join(path, yamlKey(f)), fn)
			}
		}
	case v.Kind() == reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			secretValues(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case v.Kind() == reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			secretValues(iter.Value(), join(path, fmt.Sprint(iter.Key())), fn)
		}
	}
}

func yamlKey(f reflect.StructField) string {
	if n := yamlName(f); n != "" {
		return n
	}
	return f.Name
}
