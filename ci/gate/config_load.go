package gate

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/obsshort/shortener/internal/promclient"
	"go.yaml.in/yaml/v3"
)

// LoadConfig reads a YAML file over the defaults. Every error names the
// field by its YAML path: an unknown field (a typo must not silently
// become a default), a value of the wrong type, a key given twice.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := decodeStrict(b, &cfg); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// FieldError is a configuration error naming the offending field (a YAML
// path such as analysis.alpha, or a flag), and its line in the file when
// it came from one.
type FieldError struct {
	Field, Msg string
	Line       int
}

func (e *FieldError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", e.Field, e.Msg, e.Line)
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, a ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)}
}

// decodeStrict decodes YAML into cfg by walking the document's nodes
// beside the Go types, so each error is built from what is known at that
// point (the path, the line, the expected and the given kind) rather than
// parsed out of the YAML library's messages. Leaves are decoded by the
// library (and by the types' own unmarshalers, such as Duration).
func decodeStrict(b []byte, cfg *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file: the defaults
	}
	return decodeNode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
}

func decodeNode(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	if t.Kind() == reflect.Pointer && walkable(t.Elem()) {
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return decodeNode(n, v.Elem(), path)
	}
	switch {
	case t.Kind() == reflect.Struct && walkable(t) && (n.Kind == yaml.MappingNode || !selfDecoding(t)):
		if isNull(n) {
			return nil // "prometheus:" with nothing under it changes nothing
		}
		if n.Kind != yaml.MappingNode {
			return kindError(n, t, path)
		}
		return decodeStruct(n, v, path)
	case t.Kind() == reflect.Slice && walkable(t.Elem()):
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return kindError(n, t, path)
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := decodeNode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String && walkable(t.Elem()):
		if isNull(n) {
			v.Set(reflect.Zero(t))
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return kindError(n, t, path)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		return decodeMapEntries(n.Content, v, path)
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return kindError(n, t, path)
		}
		// An unmarshaler may quote the value; a URL in it may hold a password.
		return &FieldError{Field: path, Msg: promclient.RedactIn(err.Error(), n.Value), Line: n.Line}
	}
	return nil
}

// decodeStruct decodes a mapping into a struct by its yaml tags, inline
// fields included. Unknown keys go to an inline map when the struct has
// one (config.Headers), and are an error otherwise.
func decodeStruct(n *yaml.Node, v reflect.Value, path string) error {
	fields, inlineMap := yamlFields(v.Type(), nil)
	seen := map[string]int{}
	var rest []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := k.Value
		if key == "<<" {
			return &FieldError{Field: join(path, key), Msg: "merge keys are not supported: write the fields out", Line: k.Line}
		}
		if line, dup := seen[key]; dup {
			return &FieldError{Field: join(path, key), Msg: fmt.Sprintf("given twice (first on line %d)", line), Line: k.Line}
		}
		seen[key] = k.Line
		idx, ok := fields[key]
		if !ok {
			if inlineMap != nil {
				rest = append(rest, k, val)
				continue
			}
			return &FieldError{Field: join(path, key), Msg: "unknown field", Line: k.Line}
		}
		if err := decodeNode(val, fieldByIndex(v, idx), join(path, key)); err != nil {
			return err
		}
	}
	if len(rest) > 0 {
		m := fieldByIndex(v, inlineMap)
		if m.IsNil() {
			m.Set(reflect.MakeMap(m.Type()))
		}
		return decodeMapEntries(rest, m, path)
	}
	return nil
}

func decodeMapEntries(content []*yaml.Node, m reflect.Value, path string) error {
	t := m.Type()
	seen := map[string]int{}
	for i := 0; i+1 < len(content); i += 2 {
		k, val := content[i], content[i+1]
		key := k.Value
		if line, dup := seen[key]; dup {
			return &FieldError{Field: join(path, key), Msg: fmt.Sprintf("given twice (first on line %d)", line), Line: k.Line}
		}
		seen[key] = k.Line
		elem := reflect.New(t.Elem()).Elem()
		if err := decodeNode(val, elem, join(path, key)); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), elem)
	}
	return nil
}

// yamlFields maps the YAML keys of a struct to field index paths, looking
// into inline structs; inlineMap is the index of an inline map, if any.
func yamlFields(t reflect.Type, prefix []int) (fields map[string][]int, inlineMap []int) {
	fields = map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		idx := append(append([]int(nil), prefix...), i)
		if strings.Contains(opts, "inline") {
			switch f.Type.Kind() {
			case reflect.Struct:
				sub, subMap := yamlFields(f.Type, idx)
				for k, v := range sub {
					fields[k] = v
				}
				if subMap != nil {
					inlineMap = subMap
				}
			case reflect.Map:
				inlineMap = idx
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = idx
	}
	return fields, inlineMap
}

func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	for _, i := range idx {
		v = v.Field(i)
	}
	return v
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// walkable says whether the walk goes into values of t: structs, and
// slices and maps of them. A struct given as a mapping is walked even when
// it has an unmarshaler of its own (the types of prometheus/common/config
// do), because that would decode without the strict check; the caller
// validates them afterwards instead.
func walkable(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// selfDecoding says whether t decodes itself from YAML (config.URL from a
// string, for example): such a value given as a scalar is a leaf.
func selfDecoding(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	if pt.Implements(yamlUnmarshaler) {
		return true
	}
	_, obsolete := pt.MethodByName("UnmarshalYAML")
	return obsolete
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// kindError says what the field wants and what the file gives, by kind
// only: the value itself is not repeated, as it may be a secret put in the
// wrong place.
func kindError(n *yaml.Node, t reflect.Type, path string) error {
	return &FieldError{Field: path, Msg: fmt.Sprintf("want %s, got %s", describeType(t), describeNode(n)), Line: n.Line}
}

func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return "a duration such as 30s"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "a mapping"
	}
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	switch n.ShortTag() {
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "nothing"
	case "!!str":
		if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
			return "a quoted number"
		}
		return "a string"
	}
	return "a value of type " + n.ShortTag()
}
