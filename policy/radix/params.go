package radix

// MaxParams is the most parameters (catch-all included) one template may declare.
const MaxParams = 16

// Params holds the parameters captured by one Lookup as names owned by the tree and [start,end) byte
// offsets into the looked-up path, so capturing never copies or allocates. The zero value is ready to
// use. Not safe for concurrent use; keep one per request (it is meant to live inside a pooled request
// context). Values are only meaningful together with the exact path slice passed to Lookup.
type Params struct {
	n     int
	names [MaxParams]string
	spans [MaxParams][2]uint32
}

// Reset truncates ps to zero parameters.
func (ps *Params) Reset() { ps.n = 0 }

// Len returns the number of captured parameters.
func (ps *Params) Len() int { return ps.n }

// Name returns the name of parameter i (0 <= i < Len()), in template order.
func (ps *Params) Name(i int) string { return ps.names[i] }

// Span returns the [start,end) offsets of parameter i in the looked-up path.
func (ps *Params) Span(i int) (start, end int) { return int(ps.spans[i][0]), int(ps.spans[i][1]) }

// Value returns parameter i as a sub-slice of path (the same path given to Lookup). The raw bytes are
// returned: percent-escapes are not decoded.
func (ps *Params) Value(i int, path []byte) []byte {
	return path[ps.spans[i][0]:ps.spans[i][1]:ps.spans[i][1]]
}

// Get returns the value of the parameter called name, and whether it was captured.
func (ps *Params) Get(name string, path []byte) ([]byte, bool) {
	if i := ps.Index(name); i >= 0 {
		return ps.Value(i, path), true
	}
	return nil, false
}

// Index returns the position of the parameter called name, or -1. For a given route the position is
// fixed (template order), so callers may resolve names to indexes once when compiling a config.
func (ps *Params) Index(name string) int {
	for i := 0; i < ps.n; i++ {
		if ps.names[i] == name {
			return i
		}
	}
	return -1
}

func (ps *Params) push(name string, start, end int) {
	if ps.n == MaxParams {
		panic("BUG: radix: more than MaxParams parameters captured")
	}
	ps.names[ps.n] = name
	ps.spans[ps.n] = [2]uint32{uint32(start), uint32(end)}
	ps.n++
}
