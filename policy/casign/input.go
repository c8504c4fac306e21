package casign

import "sync"

// Param is one query or form parameter with its URL-decoded key and value.
type Param struct {
	Key, Value []byte
}

// Header is one signed header: the name as the client listed it in
// X-Ca-Signature-Headers and the request's value for it (nil when absent).
type Header struct {
	Name, Value []byte
}

// Input holds views of the request parts that make up the string to sign.
// It owns nothing it points at: the views must stay valid while it is used.
// The unexported scratch slices are reused by AppendStringToSign, so an
// Input is not safe for concurrent use; pool it (AcquireInput/ReleaseInput,
// or Request which embeds one).
type Input struct {
	Method      []byte // upper-cased while writing
	Accept      []byte
	ContentMD5  []byte
	ContentType []byte
	Date        []byte
	// Headers are the signed headers in any order. Names equal (ASCII
	// case-insensitively) to X-Ca-Signature, X-Ca-Signature-Headers, Accept,
	// Content-MD5, Content-Type or Date are skipped: Alibaba excludes them.
	Headers []Header
	Path    []byte // raw path as sent on the request line, without '?'
	Query   []Param
	Form    []Param // fields of an application/x-www-form-urlencoded body
	// HeaderNamesAsListed writes signed-header names exactly as listed and
	// sorts them as Java's String.compareTo does, like the first-generation
	// Alibaba demo SDKs (Java/PHP/Python 2016) did. By default names are
	// lower-cased and sorted case-insensitively, like the current SDKs and
	// the gateway's own backend signature.
	HeaderNamesAsListed bool

	params  []Param  // scratch: Query+Form, sorted
	headers []Header // scratch: signed headers, sorted
	dupKey  bool     // set by AppendStringToSign: a parameter key repeats
}

// Reset clears all views and keeps the scratch capacity.
func (in *Input) Reset() {
	clear(in.Headers)
	clear(in.Query)
	clear(in.Form)
	clear(in.params)
	clear(in.headers)
	*in = Input{
		Headers: in.Headers[:0],
		Query:   in.Query[:0],
		Form:    in.Form[:0],
		params:  in.params[:0],
		headers: in.headers[:0],
	}
}

var inputPool sync.Pool

// AcquireInput returns an empty Input from a pool.
func AcquireInput() *Input {
	if v := inputPool.Get(); v != nil {
		return v.(*Input)
	}
	return &Input{}
}

// ReleaseInput resets in and returns it to the pool; in must not be used after.
func ReleaseInput(in *Input) {
	in.Reset()
	inputPool.Put(in)
}
