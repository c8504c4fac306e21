package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// Parsed is a decoded, defaulted configuration with the positions of its keys.
type Parsed struct {
	File   string
	Config *Config
	Hash   string // hex SHA-256 of the file's bytes
	pos    *positions
	// unknown holds unknown-key errors. The strict decoder still fills every
	// known key, so Compile reports these together with everything else.
	unknown Errors
}

// errAt builds an Error for key, placed where the key was written.
func (p *Parsed) errAt(key, msg string) *Error {
	e := &Error{File: p.File, Key: key, Msg: msg}
	if at, ok := p.pos.pos(key); ok {
		e.Line, e.Col = at.Line, at.Column
	}
	return e
}

// ReadFile reads and parses a configuration file.
func ReadFile(path string) (*Parsed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	return Parse(path, data)
}

// Parse decodes data strictly: syntax errors and type mismatches are
// returned at once, naming their line and column; unknown keys are kept and
// reported by Compile beside every other mistake. It then fills defaults.
func Parse(file string, data []byte) (*Parsed, error) {
	sum := sha256.Sum256(data)
	p := &Parsed{File: file, Config: &Config{}, Hash: hex.EncodeToString(sum[:])}
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p.Config); err != nil {
		var strict *toml.StrictMissingError
		if !errors.As(err, &strict) {
			return nil, decodeErrors(file, err)
		}
		p.unknown = decodeErrors(file, err).(Errors)
	}
	p.pos = indexPositions(data)
	p.pos.renameAt(p.unknown)
	applyDefaults(p.Config)
	return p, nil
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
		return Errors{{File: file, Line: line, Col: col, Key: strings.Join(de.Key(), "."), Msg: msg}}
	}
	return Errors{{File: file, Msg: err.Error()}}
}
