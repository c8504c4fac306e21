package params

import "errors"

// ErrBodyTooLarge is wrapped by the *Error Validate returns for a body over
// max_body_size: errors.Is(err, ErrBodyTooLarge) means 413.
var ErrBodyTooLarge = errors.New("request body too large")

// Error is a validation failure. Every *Error is built by Compile and
// shared by all requests: callers must not modify it. Safe for concurrent
// use.
type Error struct {
	Param  string // parameter name; "" for body-level failures
	In     string // location ("query", ...); "body" for body-level failures
	Rule   string // the failed rule: required, type, min, max, min_length, max_length, regex, enum, repeated, json, max_body_size
	Code   string // code for the JSON error shape: InvalidParameter, MalformedBody, PayloadTooLarge
	Status int    // HTTP status: 400, or 413 for max_body_size
	msg    string
}

// Error returns the client-facing message, e.g.
// `parameter "limit" (query): must be <= 100`.
func (e *Error) Error() string { return e.msg }

// Unwrap makes errors.Is(err, ErrBodyTooLarge) true for 413 errors.
func (e *Error) Unwrap() error {
	if e.Status == 413 {
		return ErrBodyTooLarge
	}
	return nil
}

func paramError(name, in, rule, what string) *Error {
	return &Error{Param: name, In: in, Rule: rule, Code: "InvalidParameter", Status: 400,
		msg: `parameter ` + quote(name) + ` (` + in + `): ` + what}
}

func bodyError(rule, what string) *Error {
	return &Error{In: "body", Rule: rule, Code: "MalformedBody", Status: 400, msg: "request body: " + what}
}
