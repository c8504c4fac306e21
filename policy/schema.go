package policy

import (
	"encoding"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/sluicegw/sluice/policy/units"
)

// The schema check runs before decoding. It walks the document with
// go-toml's parser beside the Config type and reports every value whose TOML
// type does not fit its key, each with its position, because:
//
//   - go-toml's decoder stops at the first type mismatch, so one mistake
//     early in the file hid every unknown key and semantic error after it
//     (issue 10, defect 16). The checker finds them all, and the mismatched
//     key-values are blanked out of a copy of the file, so the decoder still
//     reads everything else and validation still runs.
//   - the decoder stores a bare integer into Duration and Size (int64 kinds)
//     without asking them, so "read_timeout = 30" was 30ns and
//     "max_body_size = -1" a negative limit (defect 5).
//
// Mismatches the checker does not model (an integer too large for its
// field, a bad value a TextUnmarshaler refuses) are still caught by the
// decoder; Parse then blanks that key-value the same way and decodes again,
// a bounded number of times.

var (
	durationType        = reflect.TypeFor[units.Duration]()
	sizeType            = reflect.TypeFor[units.Size]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// schemaIssue is one value of the wrong type, and the bytes to blank so
// the decoder can go on without it.
type schemaIssue struct {
	err   *Error
	blank unstable.Range
}

type schemaWalker struct {
	file   string
	data   []byte
	pos    *positions
	issues []schemaIssue
	kvs    []unstable.Range // every key-value's bytes, for the decoder fallback
}

// checkSchema type-checks data against Config. It returns nothing for a
// document that does not parse: the decoder reports syntax errors.
func checkSchema(file string, data []byte, pos *positions) (issues []schemaIssue, kvs []unstable.Range) {
	w := &schemaWalker{file: file, data: data, pos: pos}
	var parser unstable.Parser
	parser.Reset(data)
	arrays := map[string]int{}
	root := reflect.TypeFor[Config]()
	cur, prefix := root, ""
	for parser.NextExpression() {
		e := parser.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, t := "", root
			it := e.Key()
			for it.Next() {
				n := it.Node()
				if path != "" {
					path += "."
				}
				path += string(n.Data)
				t = childType(t, string(n.Data))
				if it.IsLast() {
					break
				}
				if c, ok := arrays[path]; ok {
					path += "[" + strconv.Itoa(c-1) + "]"
					t = elemType(t)
				}
			}
			if e.Kind == unstable.ArrayTable {
				c := arrays[path]
				arrays[path] = c + 1
				path += "[" + strconv.Itoa(c) + "]"
				t = elemType(t)
			} else if c, ok := arrays[path]; ok {
				path += "[" + strconv.Itoa(c-1) + "]"
				t = elemType(t)
			}
			cur, prefix = t, path
		case unstable.KeyValue:
			w.keyValue(cur, prefix, e, false)
		}
	}
	if parser.Error() != nil {
		return nil, nil
	}
	return w.issues, w.kvs
}

// keyValue checks one key = value in table type t at path prefix.
func (w *schemaWalker) keyValue(t reflect.Type, prefix string, kv *unstable.Node, inline bool) {
	w.kvs = append(w.kvs, kv.Raw)
	path := prefix
	var last *unstable.Node
	it := kv.Key()
	for it.Next() {
		last = it.Node()
		if path != "" {
			path += "."
		}
		path += string(last.Data)
		t = childType(t, string(last.Data))
	}
	if last == nil {
		return
	}
	msg, bad := w.value(t, path, kv.Value())
	if msg == "" {
		return
	}
	if bad != nil { // one element of an array: report and blank just it
		w.add(path, bad.Raw.Offset, msg, w.elementRange(bad.Raw))
		return
	}
	blank := kv.Raw
	if inline {
		blank = w.withComma(blank)
	}
	w.add(path, last.Raw.Offset, msg, blank)
}

func (w *schemaWalker) add(key string, off uint32, msg string, blank unstable.Range) {
	at := w.pos.position(off)
	w.issues = append(w.issues, schemaIssue{
		err:   &Error{File: w.file, Line: at.Line, Col: at.Column, Key: key, Msg: msg},
		blank: blank,
	})
}

// value checks v against t. A problem with v as a whole returns its
// message; a problem with one scalar element of an array also returns the
// element, whose path then carries its index.
func (w *schemaWalker) value(t reflect.Type, path string, v *unstable.Node) (string, *unstable.Node) {
	if t == nil { // unknown key: the strict decoder names it
		return "", nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		switch v.Kind {
		case unstable.String:
			if _, err := units.ParseDuration(string(v.Data)); err != nil {
				return err.Error(), nil
			}
			return "", nil
		case unstable.Integer, unstable.Float:
			return "a duration needs a unit, e.g. " + quote(string(v.Data)+"s"), nil
		}
		return `want a duration string with a unit, e.g. "30s", not ` + kindName(v.Kind), nil
	case t == sizeType:
		switch v.Kind {
		case unstable.String:
			if _, err := units.ParseSize(string(v.Data)); err != nil {
				return err.Error(), nil
			}
			return "", nil
		case unstable.Integer:
			n, err := strconv.ParseInt(string(v.Data), 0, 64)
			switch {
			case err != nil || n > units.MaxSize:
				return "size " + units.Quote(string(v.Data)) + " is larger than 1TiB", nil
			case n < 0:
				return "a size must not be negative, got " + string(v.Data), nil
			}
			return "", nil
		}
		return `want a size, e.g. "10MiB" or a byte count, not ` + kindName(v.Kind), nil
	case reflect.PointerTo(t).Implements(textUnmarshalerType) || t.Kind() == reflect.String:
		return want(v, "a string", unstable.String)
	}
	switch t.Kind() {
	case reflect.Bool:
		return want(v, "a boolean (true or false)", unstable.Bool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return want(v, "a whole number", unstable.Integer)
	case reflect.Float32, reflect.Float64:
		if v.Kind == unstable.Integer {
			return "", nil
		}
		return want(v, "a number", unstable.Float)
	case reflect.Slice, reflect.Array:
		if v.Kind != unstable.Array {
			return "want an array, e.g. [" + exampleOf(t.Elem()) + "], not " + kindName(v.Kind), nil
		}
		children := v.Children()
		for i := 0; children.Next(); i++ {
			n := children.Node()
			if n.Kind == unstable.Comment {
				i--
				continue
			}
			el := path + "[" + strconv.Itoa(i) + "]"
			msg, bad := w.value(t.Elem(), el, n)
			if msg == "" {
				continue
			}
			if bad == nil && n.Raw.Length > 0 && n.Kind != unstable.Array && n.Kind != unstable.InlineTable {
				bad = n
			}
			if bad == nil {
				return msg, nil // a nested structure: blank the whole key
			}
			w.add(el, bad.Raw.Offset, msg, w.elementRange(bad.Raw))
		}
		return "", nil
	case reflect.Struct, reflect.Map:
		if v.Kind != unstable.InlineTable {
			return "want a table, e.g. { name = \"value\" }, not " + kindName(v.Kind), nil
		}
		children := v.Children()
		for children.Next() {
			if n := children.Node(); n.Kind == unstable.KeyValue {
				w.keyValue(t, path, n, true)
			}
		}
	}
	return "", nil
}

func want(v *unstable.Node, what string, k unstable.Kind) (string, *unstable.Node) {
	if v.Kind == k {
		return "", nil
	}
	return "want " + what + ", not " + kindName(v.Kind), nil
}

func exampleOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return `"a", "b"`
	case reflect.Struct, reflect.Map:
		return "{ ... }"
	}
	return "1, 2"
}

func kindName(k unstable.Kind) string {
	switch k {
	case unstable.String:
		return "a string"
	case unstable.Integer:
		return "a bare number"
	case unstable.Float:
		return "a fractional number"
	case unstable.Bool:
		return "a boolean"
	case unstable.Array:
		return "an array"
	case unstable.InlineTable:
		return "a table"
	case unstable.LocalDate, unstable.LocalTime, unstable.LocalDateTime, unstable.DateTime:
		return "a date or time"
	}
	return "a " + k.String()
}

// childType is the type of key name inside t: a struct field by its toml
// tag (embedded structs included), or a map's element. Nil when unknown.
func childType(t reflect.Type, name string) reflect.Type {
	if t == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map:
		return t.Elem()
	case reflect.Struct:
		return structField(t, name)
	}
	return nil
}

func structField(t reflect.Type, name string) reflect.Type {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		if f.Anonymous && tag == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if r := structField(ft, name); r != nil {
					return r
				}
			}
			continue
		}
		if tag == name || tag == "" && strings.EqualFold(f.Name, name) {
			return f.Type
		}
	}
	return nil
}

// elemType is the element type of a slice type (an array of tables).
func elemType(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		return t.Elem()
	}
	return nil
}

// elementRange extends an array element's bytes over the comma after it,
// so the array stays valid TOML once they are blanked (a trailing comma is
// allowed in arrays).
func (w *schemaWalker) elementRange(r unstable.Range) unstable.Range {
	end := int(r.Offset + r.Length)
	for i := end; i < len(w.data); i++ {
		switch w.data[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case ',':
			return unstable.Range{Offset: r.Offset, Length: uint32(i + 1 - int(r.Offset))}
		}
		break
	}
	return r
}

// withComma extends a key-value inside an inline table over the comma after
// it, or else the comma before it: an inline table allows no trailing comma.
func (w *schemaWalker) withComma(r unstable.Range) unstable.Range {
	end := int(r.Offset + r.Length)
	for i := end; i < len(w.data); i++ {
		c := w.data[i]
		if c == ' ' || c == '\t' {
			continue
		}
		if c == ',' {
			return unstable.Range{Offset: r.Offset, Length: uint32(i + 1 - int(r.Offset))}
		}
		break
	}
	for i := int(r.Offset) - 1; i >= 0; i-- {
		c := w.data[i]
		if c == ' ' || c == '\t' {
			continue
		}
		if c == ',' {
			return unstable.Range{Offset: uint32(i), Length: uint32(end - i)}
		}
		break
	}
	return r
}

// blankOut overwrites ranges of data with spaces, keeping line breaks so
// every other key keeps its line and column.
func blankOut(data []byte, rs ...unstable.Range) {
	for _, r := range rs {
		end := min(int(r.Offset+r.Length), len(data))
		for i := int(r.Offset); i < end; i++ {
			if data[i] != '\n' && data[i] != '\r' {
				data[i] = ' '
			}
		}
	}
}

// innermost is the smallest key-value range holding byte offset off.
func innermost(kvs []unstable.Range, off int) (unstable.Range, bool) {
	var best unstable.Range
	found := false
	for _, r := range kvs {
		if int(r.Offset) <= off && off < int(r.Offset+r.Length) && (!found || r.Length < best.Length) {
			best, found = r, true
		}
	}
	return best, found
}
