package jwtauth

import (
	"errors"
	"testing"
)

func TestWWWAuthenticate(t *testing.T) {
	cases := []struct {
		err  *Error
		want string
	}{
		{ErrTokenMissing, `Bearer realm="sluice"`},
		{ErrTokenExpired, `Bearer realm="sluice", error="invalid_token", error_description="token has expired"`},
		{ErrClaimRequired, `Bearer realm="sluice", error="insufficient_scope", error_description="token lacks a required claim"`},
	}
	for _, c := range cases {
		if got := string(c.err.WWWAuthenticate()); got != c.want {
			t.Errorf("%s: %s, want %s", c.err.Code(), got, c.want)
		}
	}
	if ErrKeysUnavailable.WWWAuthenticate() != nil || ErrKeysUnavailable.Status() != 503 {
		t.Error("KeysUnavailable must be a 503 without challenge")
	}
	v := hsVerifier(t, Config{Realm: "api"})
	if got := string(v.AppendWWWAuthenticate(nil, ErrBadSignature)); got != `Bearer realm="api", error="invalid_token", error_description="token signature is invalid"` {
		t.Errorf("realm: %s", got)
	}
	var e *Error
	if !errors.As(error(ErrBadAudience), &e) || e.Code() != "BadAudience" || e.Status() != 401 {
		t.Error("errors.As")
	}
	// Codes are stable and distinct.
	seen := map[string]bool{}
	for _, e := range []*Error{ErrTokenMissing, ErrTokenTooLarge, ErrTokenMalformed, ErrForbiddenHeader, ErrAlgNotAllowed,
		ErrUnknownKid, ErrBadSignature, ErrTokenExpired, ErrTokenNotYetValid, ErrBadIssuer, ErrBadAudience,
		ErrClaimMissing, ErrClaimInvalid, ErrClaimRequired, ErrKeysUnavailable} {
		if seen[e.Code()] {
			t.Errorf("duplicate code %s", e.Code())
		}
		seen[e.Code()] = true
	}
}
