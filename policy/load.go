package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// MaxFileSize bounds a config file. Reading stops there, so a huge file
// cannot make check or a reload hold gigabytes (issue 10, defect 13); real
// configs with thousands of APIs are a few MiB.
const MaxFileSize = 16 << 20

// maxRedecodes bounds how often Parse blanks a key the decoder refused and
// decodes again (the schema check catches nearly all mismatches first).
const maxRedecodes = 32

// Parsed is a decoded, defaulted configuration with the positions of its keys.
type Parsed struct {
	File   string
	Config *Config
	Hash   string // hex SHA-256 of the file's bytes
	pos    *positions
	// unknown holds the mistakes found while decoding: values of the wrong
	// type and unknown keys. Everything else is still decoded, so Compile
	// reports these together with every semantic mistake.
	unknown Errors
	// badKeys are the keys whose values were of the wrong type and were left
	// out of decoding; semantic errors about them (e.g. "backend is
	// required" for backend = 5) would only repeat the mistake.
	badKeys map[string]bool
}

// errAt builds an Error for key, placed where the key was written.
func (p *Parsed) errAt(key, msg string) *Error {
	e := &Error{File: p.File, Key: key, Msg: capMsg(msg)}
	if at, ok := p.pos.pos(key); ok {
		e.Line, e.Col = at.Line, at.Column
	}
	return e
}

// reported says whether key or one of its ancestors already has a type error.
func (p *Parsed) reported(key string) bool {
	if len(p.badKeys) == 0 {
		return false
	}
	for k := key; k != ""; k = parentKey(k) {
		if p.badKeys[k] {
			return true
		}
	}
	return false
}

// ReadFile reads and parses a configuration file of at most MaxFileSize bytes.
func ReadFile(path string) (*Parsed, error) {
	data, err := ReadBounded(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data)
}

// errTooLarge is the error for a file over MaxFileSize.
var errTooLarge = errors.New("config file is larger than 16MiB")

// ReadBounded reads a config file, refusing one over MaxFileSize without
// reading more than one byte past the bound. Reloads read through it too.
func ReadBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, errTooLarge
	}
	return data, nil
}

// Parse decodes data strictly. Syntax errors are returned at once, naming
// their line and column. Values of the wrong type and unknown keys are kept
// and reported by Compile beside every other mistake: the schema check
// finds every mismatch, and the decoder reads the file without them. It
// then fills defaults.
func Parse(file string, data []byte) (*Parsed, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: file, Msg: errTooLarge.Error()}}
	}
	sum := sha256.Sum256(data)
	p := &Parsed{File: file, Hash: hex.EncodeToString(sum[:])}
	p.pos = indexPositions(data)
	issues, kvs := checkSchema(file, data, p.pos)
	work := data
	if len(issues) > 0 {
		work = bytes.Clone(data)
		p.badKeys = map[string]bool{}
		for _, is := range issues {
			blankOut(work, is.blank)
			p.unknown = append(p.unknown, is.err)
			p.badKeys[is.err.Key] = true
		}
	}
	for attempt := 0; ; attempt++ {
		p.Config = &Config{}
		dec := toml.NewDecoder(bytes.NewReader(work))
		dec.DisallowUnknownFields()
		err := dec.Decode(p.Config)
		if err == nil {
			break
		}
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			unknown := decodeErrors(file, err).(Errors)
			p.pos.renameAt(unknown)
			p.unknown = append(p.unknown, unknown...)
			break
		}
		errs := decodeErrors(file, err).(Errors)
		p.pos.renameAt(errs)
		e := errs[0]
		r, ok := innermost(kvs, p.offset(e))
		if !ok || attempt >= maxRedecodes {
			// A syntax error, or a mistake the decoder cannot step over:
			// nothing after it can be read reliably.
			return nil, sortErrors(append(p.unknown, e))
		}
		if len(p.badKeys) == 0 {
			work = bytes.Clone(data)
			p.badKeys = map[string]bool{}
		}
		blankOut(work, r)
		p.unknown = append(p.unknown, e)
		p.badKeys[e.Key] = true
	}
	applyDefaults(p.Config)
	return p, nil
}

// offset is the byte offset of e's line and column, -1 when it has none.
func (p *Parsed) offset(e *Error) int {
	if e.Line < 1 || e.Line > len(p.pos.lines) {
		return -1
	}
	return p.pos.lines[e.Line-1] + e.Col - 1
}

// sortErrors orders errors by position, the order an editor lists them.
func sortErrors(es Errors) Errors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return es
}

func decodeErrors(file string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		out := make(Errors, 0, len(strict.Errors))
		for i := range strict.Errors {
			de := &strict.Errors[i]
			line, col := de.Position()
			out = append(out, &Error{File: file, Line: line, Col: col, Key: strings.Join(de.Key(), "."),
				Msg: "unknown key (see configs/reference.toml for every key)"})
		}
		return out
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		return Errors{{File: file, Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: capMsg(msg)}}
	}
	return Errors{{File: file, Msg: capMsg(err.Error())}}
}

// maxMsg bounds one error message. Messages quote values through quote,
// which cuts them; this is the net under messages built elsewhere (the
// policy sub-packages) that quote a value whole (defect 13).
const maxMsg = 512

func capMsg(msg string) string {
	if len(msg) <= maxMsg {
		return msg
	}
	cut := maxMsg
	for cut > maxMsg-4 && msg[cut]&0xC0 == 0x80 {
		cut--
	}
	return msg[:cut] + "… (message of " + strconv.Itoa(len(msg)) + " bytes cut)"
}
