package jsonscan

import (
	"strings"
	"testing"
)

func members(t *testing.T, doc string, r Rules) (keys, vals []string, err error) {
	t.Helper()
	var it ObjectIter
	if err := it.Start([]byte(doc), r); err != nil {
		return nil, nil, err
	}
	for {
		m, ok, err := it.Next()
		if err != nil || !ok {
			return keys, vals, err
		}
		keys = append(keys, string(m.Key))
		vals = append(vals, m.Kind.String()+":"+string(m.Val))
	}
}

func TestObjectIter(t *testing.T) {
	cases := []struct {
		doc, keys, vals string
		err             error
	}{
		{` { "a" : 1 , "b\n":"x" ,"c":[1,{"d":2}], "d":{} } `, `a|b\n|c|d`, `number:1|string:"x"|array:[1,{"d":2}]|object:{}`, nil},
		{`{}`, ``, ``, nil},
		{` {} `, ``, ``, nil},
		{`{} x`, ``, ``, ErrMalformed},
		{`{"a":1} x`, ``, ``, ErrMalformed}, // trailing bytes fail the last member
		{`{"a":1,}`, `a`, `number:1`, ErrMalformed},
		{`{"a":1 "b":2}`, ``, ``, ErrMalformed},
		{`[1]`, ``, ``, ErrNotObject},
		{`"x"`, ``, ``, ErrNotObject},
		{`[1,]`, ``, ``, ErrMalformed},
		{``, ``, ``, ErrMalformed},
	}
	for _, c := range cases {
		keys, vals, err := members(t, c.doc, lenient)
		if err != c.err || strings.Join(keys, "|") != c.keys || strings.Join(vals, "|") != c.vals {
			t.Errorf("%q: keys %q vals %q err %v", c.doc, keys, vals, err)
		}
	}
}

func TestObjectIterEscapes(t *testing.T) {
	var it ObjectIter
	if err := it.Start([]byte(`{"k\u0065y":"v\"","plain":"v"}`), strict); err != nil {
		t.Fatal(err)
	}
	m, _, _ := it.Next()
	if !m.KeyEsc || !m.ValEsc || !EqualUnescaped(m.Key, m.KeyEsc, "key") || !StringEqual(m.Val, `v"`) {
		t.Errorf("first member %+v", m)
	}
	m, _, _ = it.Next()
	if m.KeyEsc || m.ValEsc {
		t.Errorf("second member flagged escaped: %+v", m)
	}
}

func TestArrayIter(t *testing.T) {
	var it ArrayIter
	if err := it.Start([]byte(`[ "a" , 2, [3], {"x":"\t"} ]`), strict); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		v, kind, _, ok, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, kind.String()+":"+string(v))
	}
	if strings.Join(got, "|") != `string:"a"|number:2|array:[3]|object:{"x":"\t"}` {
		t.Errorf("elements %q", got)
	}
	if err := it.Start([]byte(`{}`), strict); err != ErrNotArray {
		t.Errorf("object as array: %v", err)
	}
	if err := it.Start([]byte(`[]`), strict); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok, err := it.Next(); ok || err != nil {
		t.Errorf("empty array: %v %v", ok, err)
	}
	if err := it.Start([]byte(`["\ud800"]`), strict); err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := it.Next(); err != ErrMalformed {
		t.Errorf("strict array accepted a lone surrogate: %v", err)
	}
}

func TestIteratorWithoutStart(t *testing.T) {
	var it ObjectIter
	if m, ok, err := it.Next(); ok || err != ErrMalformed || m.Key != nil {
		t.Errorf("unstarted ObjectIter: %+v %v %v", m, ok, err)
	}
	var at ArrayIter
	if _, _, _, ok, err := at.Next(); ok || err != ErrMalformed {
		t.Errorf("unstarted ArrayIter: %v %v", ok, err)
	}
}
