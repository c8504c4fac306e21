package params

import "github.com/sluicegw/sluice/policy/jsonscan"

// JSON body parameters are read with the shared allocation-free scanner
// (policy/jsonscan) under encoding/json's string rules (lone surrogate
// escapes decode to U+FFFD) and a deep nesting bound, since bodies are
// application data and not ours to restrict further.

// Kind is the JSON type of a value found by the scanner.
type Kind = jsonscan.Kind

// Kinds of JSON values. KindNone means "not found".
const (
	KindNone   = jsonscan.None
	KindString = jsonscan.String
	KindNumber = jsonscan.Number
	KindBool   = jsonscan.Bool
	KindNull   = jsonscan.Null
	KindObject = jsonscan.Object
	KindArray  = jsonscan.Array
)

// MaxJSONDepth bounds container nesting, the top-level object counting as
// one level; deeper documents are rejected as malformed rather than walked
// (encoding/json's own bound is 10000).
const MaxJSONDepth = jsonscan.MaxDepth

// bodyJSON are the scanner rules for request bodies.
var bodyJSON = jsonscan.Rules{MaxDepth: MaxJSONDepth}

// Scanner errors. Both are client errors (400).
var (
	ErrMalformedJSON = jsonscan.ErrMalformed
	ErrNotObject     = jsonscan.ErrNotObject
)

// LookupJSON finds the top-level member key in the JSON object body and
// returns its value and kind; kind is KindNone when the key is absent. The
// whole document is validated (strict RFC 8259, UTF-8, nesting at most
// MaxJSONDepth); a malformed one returns ErrMalformedJSON and a valid
// non-object ErrNotObject. When the key occurs more than once the last one
// wins, as in encoding/json. A string value is returned unquoted: a slice
// of body when it has no escapes, otherwise decoded into scratch (appended;
// the grown scratch is returned for reuse). Numbers, booleans and null come
// back as their raw literal, objects and arrays as raw JSON.
func LookupJSON(body []byte, key string, scratch []byte) (val []byte, kind Kind, scratchOut []byte, err error) {
	var it jsonscan.ObjectIter
	if err := it.Start(body, bodyJSON); err != nil {
		return nil, KindNone, scratch, err
	}
	var found jsonscan.Member
	for {
		m, ok, err := it.Next()
		if err != nil {
			return nil, KindNone, scratch, err
		}
		if !ok {
			break
		}
		if jsonscan.EqualUnescaped(m.Key, m.KeyEsc, key) {
			found = m
		}
	}
	if found.Kind == KindNone {
		return nil, KindNone, scratch, nil
	}
	val, scratch = jsonscan.Unquote(found.Val, found.Kind, found.ValEsc, scratch)
	return val, found.Kind, scratch, nil
}
