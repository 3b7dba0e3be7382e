package configs

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a configuration file. Line is 0 when the problem
// has no line (a default that does not validate); Field is the dotted key
// path ("ledger.postgres.url", "targets[2].host"), empty for syntax errors.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

// Error formats the problem on one line: "file:line: field: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File == "" {
		b.WriteString("<config>")
	} else {
		b.WriteString(e.File)
	}
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors returns every *Error in err: the one err is, or those joined in it.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if u := errors.Unwrap(err); u != nil {
			walk(u)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}

// Load reads and parses the configuration file at path. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse is ParseWith with no options: secrets given by reference are
// resolved from the process's environment and files; a sealed one
// (enc:v1:) is an error.
func Parse(name string, data []byte) (*Config, error) {
	return ParseWith(name, data, ParseOptions{})
}

// ParseWith decodes, completes and validates a configuration. name is the
// file name used in errors, as Config.Source, and whose directory relative
// paths (and file: references of secrets) are resolved against.
//
// The error, if any, is an *Error or an errors.Join of them, sorted by line.
func ParseWith(name string, data []byte, opts ParseOptions) (cfg *Config, err error) {
	defer func() {
		// The YAML parser is not ours; never let it take the process down.
		if r := recover(); r != nil {
			cfg, err = nil, &Error{File: name, Msg: fmt.Sprintf("cannot parse YAML: %v", r)}
		}
	}()
	root, perr := parseYAML(name, data)
	if perr != nil {
		return nil, perr
	}

	c := &Config{}
	for _, s := range c.sections() {
		s.sec.defaults()
	}
	dir := filepath.Dir(name)
	d := &decoder{file: name, lines: map[string]int{}, opts: opts, dir: dir}
	if opts.Dir != "" {
		d.dir = opts.Dir
	}
	if root != nil {
		d.decodeRoot(root, reflect.ValueOf(c).Elem())
	}
	c.given = d.lines
	for _, s := range c.sections() {
		s.sec.resolve(c, dir)
	}
	c.given = nil

	errs := d.errs
	bad := map[string]bool{} // fields whose value did not decode
	for _, e := range d.errs {
		bad[e.Field] = true
	}
	for _, fe := range c.validate() {
		if bad[fe.path] {
			continue // already reported; the default in its place proves nothing
		}
		errs = append(errs, &Error{File: name, Line: d.lineOf(fe.path, fe.at), Field: fe.path, Msg: oneLine(fe.msg)})
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}

	sum := sha256.Sum256(data)
	c.Hash = hex.EncodeToString(sum[:])
	c.Source = name
	return c, nil
}

// joinErrors sorts errs by line and returns the one error, or all joined.
func joinErrors(errs []*Error) error {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	if len(errs) == 1 {
		return errs[0]
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into its document node: nil for an empty document,
// an *Error for a syntax error or a second document.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(name, err)
	}
	for {
		// A trailing "---" (an empty document) is harmless; more content is not.
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(name, err)
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			return nil, &Error{File: name, Line: next.Line, Msg: "a second YAML document; want one"}
		}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return nil, nil
}

func yamlError(name string, err error) *Error {
	msg := oneLine(err.Error())
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: m[2]}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// decoder decodes a yaml.Node tree into Go values strictly, recording the
// line of every key path and collecting every problem as an *Error.
//
// It stands in for yaml.v3's Decoder.KnownFields(true): that stops at the
// first unknown key, names Go types rather than key paths, and truncates
// floats into ints.
type decoder struct {
	file  string
	lines map[string]int // key path → line of the key
	errs  []*Error
	nodes int // nodes visited, aliases expanded; bounded against alias bombs

	merging map[*yaml.Node]bool // mappings being merged (<<), against cycles

	opts ParseOptions // how secrets given by reference or sealed are read
	dir  string       // the config file's directory, for file: references
	// collect, when set, is given every secret's node instead of resolving
	// it (SealShared).
	collect func(n *yaml.Node, path string)
}

// maxNodes bounds the work an input can cause through aliases (a variable
// for tests).
var maxNodes = 1 << 20

var (
	durationType        = reflect.TypeOf(time.Duration(0))
	yamlUnmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// nodeRewriter is a type that accepts another form in the file: its
// rewriteNode turns the node into the form its fields decode from.
type nodeRewriter interface {
	rewriteNode(n *yaml.Node) *yaml.Node
}

func (d *decoder) errf(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: path, Msg: oneLine(fmt.Sprintf(format, args...))})
}

// lineOf returns the line of path in the file; else that of at; else that of
// the nearest enclosing key written in the file; else 0.
func (d *decoder) lineOf(path, at string) int {
	if l, ok := d.lines[path]; ok {
		return l
	}
	if l, ok := d.lines[at]; ok && at != "" {
		return l
	}
	for p := path; p != ""; {
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
		if l, ok := d.lines[p]; ok {
			return l
		}
	}
	return 0
}

func (d *decoder) decodeRoot(n *yaml.Node, v reflect.Value) {
	n = d.deref(n)
	if n == nil {
		return
	}
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errf(n.Line, "", "want a mapping of sections at the top level, got %s", describe(n))
		return
	}
	d.decode(n, v, "")
}

// deref follows aliases; nil when the budget is spent.
func (d *decoder) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes {
		d.errf(0, "", "document too large (aliases expand to over %d nodes)", maxNodes)
	}
	if d.nodes >= maxNodes {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names a node for "got ..." in messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return quote(n.Value)
		}
		return shorten(n.Value)
	}
	return "nothing"
}

func shorten(s string) string {
	if q := quote(s); len(q) > len(s)+2 || strings.HasSuffix(q, "...") {
		return q
	}
	return s
}

// join appends a key to a path; a key that would not read well in a
// one-line message (empty, control characters, spaces) is quoted.
func join(path, key string) string {
	if key == "" || strings.ContainsAny(key, " \t") || strconv.Quote(key) != `"`+key+`"` {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode decodes n into v (addressable). A null leaves v as it is, so
// defaults set before decoding stay.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = d.deref(n)
	if n == nil || isNull(n) {
		return
	}
	if secretTypes[v.Type()] {
		d.secret(n, v, path)
		return
	}
	if v.CanAddr() {
		pv := v.Addr()
		if r, ok := pv.Interface().(nodeRewriter); ok {
			n = r.rewriteNode(n)
		}
		if pv.Type().Implements(yamlUnmarshalerType) {
			if err := pv.Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.errf(n.Line, path, "%v", err)
			}
			return
		}
		if pv.Type().Implements(textUnmarshalerType) && v.Kind() != reflect.String {
			if n.Kind != yaml.ScalarNode {
				d.errf(n.Line, path, "want a string, got %s", describe(n))
				return
			}
			if err := pv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.errf(n.Line, path, "%s: %v", quote(n.Value), err)
			}
			return
		}
	}
	if v.Type() == durationType {
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errf(n.Line, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.errf(n.Line, path, "%s is not a boolean (want true or false)", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			d.errf(n.Line, path, "%s is not an integer", describe(n))
			return
		}
		if v.OverflowInt(i) {
			d.errf(n.Line, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&u) != nil {
			d.errf(n.Line, path, "%s is not a non-negative integer", describe(n))
			return
		}
		if v.OverflowUint(u) {
			d.errf(n.Line, path, "%s is out of range", n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!float" && tag != "!!int") || n.Decode(&f) != nil {
			d.errf(n.Line, path, "%s is not a number", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		d.slice(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errf(n.Line, path, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.errf(n.Line, path, "cannot decode into %s (a bug in configs)", v.Type())
	}
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n.Line, path, "want a duration such as \"30s\", got %s", describe(n))
		return
	}
	if tag := n.ShortTag(); tag == "!!int" || tag == "!!float" {
		d.errf(n.Line, path, "%s is not a duration (write the unit, e.g. \"%ss\")", n.Value, n.Value)
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errf(n.Line, path, "%s is not a duration", quote(n.Value))
		return
	}
	v.SetInt(int64(dur))
}

// pair is a key and its value in a mapping, merges (<<) expanded.
type pair struct {
	key, val *yaml.Node
	name     string
}

// pairs returns the entries of mapping n: explicit keys (duplicates
// reported), then merged keys (<<: *anchor) that no explicit key overrides.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := d.deref(n.Content[i]), n.Content[i+1]
		if k == nil {
			return nil
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(val, path, 0)...)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.errf(k.Line, path, "a key must be a string, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errf(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		explicit = append(explicit, pair{key: k, val: val, name: k.Value})
	}
	out := explicit
	for _, p := range merged {
		if _, ok := seen[p.name]; !ok {
			seen[p.name] = p.key.Line
			out = append(out, p)
		}
	}
	return out
}

// mergePairs expands the value of a merge key: a mapping or a list of them.
func (d *decoder) mergePairs(val *yaml.Node, path string, depth int) []pair {
	val = d.deref(val)
	if val == nil {
		return nil
	}
	if d.merging[val] {
		d.errf(val.Line, path, "<< merges a mapping into itself")
		return nil
	}
	switch {
	case val.Kind == yaml.MappingNode:
		if d.merging == nil {
			d.merging = map[*yaml.Node]bool{}
		}
		d.merging[val] = true
		defer delete(d.merging, val)
		return d.pairs(val, path)
	case val.Kind == yaml.SequenceNode && depth == 0:
		var out []pair
		for _, m := range val.Content {
			if m2 := d.deref(m); m2 != nil && m2.Kind == yaml.MappingNode {
				out = append(out, d.mergePairs(m2, path, depth+1)...)
			} else if m2 != nil {
				d.errf(m2.Line, path, "<< wants a mapping or a list of mappings, got %s", describe(m2))
			}
		}
		return out
	}
	d.errf(val.Line, path, "<< wants a mapping or a list of mappings, got %s", describe(val))
	return nil
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errf(n.Line, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	var given []givenField
	for _, p := range d.pairs(n, path) {
		fp := join(path, p.name)
		if _, ok := d.lines[fp]; !ok {
			d.lines[fp] = p.key.Line
		}
		idx, ok := fields[p.name]
		if !ok {
			d.errf(p.key.Line, fp, "unknown field")
			continue
		}
		d.decode(p.val, v.FieldByIndex(idx), fp)
		if val := d.derefQuiet(p.val); val != nil && !isNull(val) {
			given = append(given, givenField{idx: idx, path: fp, line: p.key.Line})
		}
	}
	d.defaults(v, given)
}

// defaulter is a config type of another package that fills its own
// defaults: Defaults sets every field left at its zero value.
type defaulter interface{ Defaults() }

// givenField is a key written in the file, with a value.
type givenField struct {
	idx  []int
	path string
	line int
}

// defaults completes a struct that fills its own defaults (a defaulter)
// from the keys the file did not give: the defaults apply only where a
// key is absent. A key given as zero (0, 0s, "", []) where the type's
// default is something else is an error naming the default: zero there
// does not silently mean "default", and most such zeros are not valid
// values. (A field whose zero is a valid value, such as snmp.retries, is
// a pointer, so that zero and absent differ.)
func (d *decoder) defaults(v reflect.Value, given []givenField) {
	if !v.CanAddr() {
		return
	}
	df, ok := v.Addr().Interface().(defaulter)
	if !ok {
		return
	}
	before := reflect.New(v.Type()).Elem()
	before.Set(v)
	df.Defaults()
	for _, g := range given {
		was, now := before.FieldByIndex(g.idx), v.FieldByIndex(g.idx)
		if isEmptyValue(was) && !isEmptyValue(now) {
			d.errf(g.line, g.path, "%s: not a valid value here (leave the key out for the default, %s)", showValue(was), showValue(now))
		}
		now.Set(was) // what the file says stands
	}
}

// isEmptyValue: the zero value, or an empty list or mapping.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// showValue prints a config value for a message: durations as "30s",
// strings quoted, lists and mappings in YAML flow style.
func showValue(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return fmtDuration(time.Duration(v.Int()))
	case v.Kind() == reflect.String:
		if st, ok := v.Interface().(fmt.Stringer); ok {
			return quote(st.String()) // a secret type prints as <secret>
		}
		return quote(v.String())
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Map:
		if v.Len() == 0 {
			if v.Kind() == reflect.Map {
				return "{}"
			}
			return "[]"
		}
		b, err := yaml.Marshal(v.Interface())
		if err == nil {
			var n yaml.Node
			if yaml.Unmarshal(b, &n) == nil && len(n.Content) == 1 {
				n.Content[0].Style = yaml.FlowStyle
				if out, err := yaml.Marshal(n.Content[0]); err == nil {
					return strings.TrimSpace(string(out))
				}
			}
		}
	}
	return fmt.Sprint(v.Interface())
}

// derefQuiet follows aliases without counting against the node budget.
func (d *decoder) derefQuiet(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errf(n.Line, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := path + "[" + strconv.Itoa(i) + "]"
		d.lines[ip] = item.Line
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errf(n.Line, path, "want a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errf(n.Line, path, "cannot decode into %s (a bug in configs)", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path) {
		kp := join(path, p.name)
		d.lines[kp] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, elem, kp)
		v.SetMapIndex(reflect.ValueOf(p.name).Convert(v.Type().Key()), elem)
	}
}

// fieldsOf maps the yaml names of a struct's fields to their indexes,
// following ",inline" fields.
func fieldsOf(t reflect.Type) map[string][]int {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string][]int)
	}
	out := map[string][]int{}
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), index...), i)
			tag := f.Tag.Get("yaml")
			if strings.Contains(tag, ",inline") && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if name := yamlName(f); name != "" {
				out[name] = idx
			}
		}
	}
	walk(t, nil)
	fieldCache.Store(t, out)
	return out
}

var fieldCache sync.Map // reflect.Type → map[string][]int

// yamlName is the key of a struct field in YAML: its yaml tag name, or ""
// for unexported, untagged or "-" fields. Every config field carries a tag.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}
