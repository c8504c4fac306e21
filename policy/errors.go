package policy

import (
	"strconv"
	"strings"
)

// Error is one configuration mistake with the place it was made.
type Error struct {
	File string // config file name as given to Load
	Line int    // 1-based; 0 when the place is unknown
	Col  int    // 1-based
	Key  string // key path, e.g. groups[0].apis[2].backend
	Msg  string
}

// Error renders "file:line:col: key: message", the form editors jump to.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Col))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(capKey(e.Key))
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every mistake found in one file, in document order.
type Errors []*Error

// Error joins the mistakes one per line.
func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// capKey cuts a key path that is absurdly long (a misspelt key is echoed
// in its error): an error line stays short whatever the file holds.
func capKey(k string) string {
	const maxKey = 256
	if len(k) <= maxKey {
		return k
	}
	return k[:maxKey] + "… (" + strconv.Itoa(len(k)) + " bytes)"
}
