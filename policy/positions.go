package policy

import (
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps key paths as validation names them ("groups[0].apis[1].path")
// to where they were written, so semantic errors found after decoding can
// still point at a line and column. go-toml's decoder keeps no positions, so
// the document is walked a second time with its public parser.
type positions struct {
	at    map[string]uint32 // byte offset of each key
	lines []int             // offset of each line's first byte
}

// position turns a byte offset into a 1-based line and column. go-toml's
// Parser.Shape scans from the start of the file on every call, which made
// indexing a 10 000-API file quadratic (seconds); a line table is O(log n).
func (p *positions) position(off uint32) unstable.Position {
	line := sort.SearchInts(p.lines, int(off)+1) - 1
	if line < 0 {
		line = 0
	}
	return unstable.Position{Offset: int(off), Line: line + 1, Column: int(off) - p.lines[line] + 1}
}

// pos returns the place of key, or of its closest written ancestor.
func (p *positions) pos(key string) (unstable.Position, bool) {
	if p == nil {
		return unstable.Position{}, false
	}
	for k := key; k != ""; k = parentKey(k) {
		if at, ok := p.at[k]; ok {
			return p.position(at), true
		}
	}
	return unstable.Position{}, false
}

func parentKey(k string) string {
	for i := len(k) - 1; i >= 0; i-- {
		switch k[i] {
		case '.':
			return k[:i]
		case '[':
			return k[:i]
		}
	}
	return ""
}

func indexPositions(data []byte) *positions {
	p := &positions{at: map[string]uint32{}, lines: []int{0}}
	for i, c := range data {
		if c == '\n' {
			p.lines = append(p.lines, i+1)
		}
	}
	var parser unstable.Parser
	parser.Reset(data)
	arrays := map[string]int{} // array-of-tables path -> elements seen
	prefix := ""
	// resolve turns dotted key parts into a path, entering the last element of
	// every array of tables on the way.
	resolve := func(base string, it unstable.Iterator) (string, *unstable.Node) {
		path := base
		var last *unstable.Node
		for it.Next() {
			n := it.Node()
			last = n
			if path != "" {
				path += "."
			}
			path += string(n.Data)
			if c, ok := arrays[path]; ok && it.IsLast() == false {
				path += "[" + strconv.Itoa(c-1) + "]"
			}
		}
		return path, last
	}
	for parser.NextExpression() {
		e := parser.Expression()
		switch e.Kind {
		case unstable.Table:
			path, last := resolve("", e.Key())
			if c, ok := arrays[path]; ok {
				path += "[" + strconv.Itoa(c-1) + "]"
			}
			prefix = path
			if last != nil {
				p.at[path] = last.Raw.Offset
			}
		case unstable.ArrayTable:
			path, last := resolve("", e.Key())
			c := arrays[path]
			arrays[path] = c + 1
			prefix = path + "[" + strconv.Itoa(c) + "]"
			if last != nil {
				p.at[prefix] = last.Raw.Offset
			}
		case unstable.KeyValue:
			p.keyValue(&parser, prefix, e)
		}
	}
	return p
}

func (p *positions) keyValue(parser *unstable.Parser, prefix string, e *unstable.Node) {
	path := prefix
	var last *unstable.Node
	it := e.Key()
	for it.Next() {
		last = it.Node()
		if path != "" {
			path += "."
		}
		path += string(last.Data)
	}
	if last != nil {
		p.at[path] = last.Raw.Offset
	}
	p.value(parser, path, e.Value())
}

func (p *positions) value(parser *unstable.Parser, path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		children := v.Children()
		for children.Next() {
			p.keyValue(parser, path, children.Node())
		}
	case unstable.Array:
		children := v.Children()
		for i := 0; children.Next(); i++ {
			n := children.Node()
			el := path + "[" + strconv.Itoa(i) + "]"
			if n.Raw.Length > 0 {
				p.at[el] = n.Raw.Offset
			} else if at, ok := p.at[path]; ok {
				p.at[el] = at
			}
			p.value(parser, el, n)
		}
	}
}

// renameAt gives errors the full key path written at their position: the
// decoder names a key inside an inline table of an array by its table only
// ("backends.wieght" for backends[0].targets[0].wieght).
func (p *positions) renameAt(errs Errors) {
	for _, e := range errs {
		if e.Line < 1 || e.Line > len(p.lines) {
			continue
		}
		off := uint32(p.lines[e.Line-1] + e.Col - 1)
		for k, at := range p.at {
			if at == off && len(k) >= len(e.Key) {
				e.Key = k
			}
		}
	}
}
