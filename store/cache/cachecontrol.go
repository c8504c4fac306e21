package cache

import "github.com/sluicegw/sluice/policy/httpbytes"

// Parsing of the header fields RFC 9111 caching depends on: Cache-Control
// (request and response directives), Expires, Date, Age and Last-Modified.
// Every parser here works on the caller's bytes and allocates nothing, so the
// lookup step can parse the request's Cache-Control on every request.

// Directive flags. A flag is set when the directive is present anywhere in
// the field (all header lines), which is the most restrictive reading of
// duplicates for the boolean directives.
const (
	CCNoStore uint32 = 1 << iota
	CCNoCache
	CCPrivate
	CCPublic
	CCMustRevalidate
	CCProxyRevalidate
	CCOnlyIfCached
	CCNoTransform
	CCImmutable
	CCMustUnderstand
	// CCNoCacheFields and CCPrivateFields mark the qualified forms
	// (no-cache="Set-Cookie"). Sluice treats them like the unqualified
	// directive, which RFC 9111 §5.2.2.4 and §5.2.2.7 allow: it never stores
	// or serves an answer partially.
	CCNoCacheFields
	CCPrivateFields
	CCHasMaxAge
	CCHasSMaxAge
	CCHasStaleWhileRevalidate
	CCHasStaleIfError
	CCHasMaxStale
	// CCMaxStaleAny is max-stale without a value: any staleness is accepted.
	CCMaxStaleAny
	CCHasMinFresh
	// CCConflict is set when max-age or s-maxage occurs twice with different
	// values; RFC 9111 §4.2.1 lets the cache use the first or consider the
	// response stale, and a shared cache takes the safe side: stale.
	CCConflict
)

// MaxDelta is the value RFC 9111 §1.2.2 prescribes for delta-seconds that
// overflow: 2^31 seconds.
const MaxDelta = 1 << 31

// Directives is a parsed Cache-Control field. The zero value means "no
// directives". It holds no references to the parsed bytes and is safe to copy.
type Directives struct {
	Flags                uint32
	MaxAge               int64 // seconds, valid when CCHasMaxAge
	SMaxAge              int64 // seconds, valid when CCHasSMaxAge
	StaleWhileRevalidate int64 // seconds, valid when CCHasStaleWhileRevalidate
	StaleIfError         int64 // seconds, valid when CCHasStaleIfError
	MaxStale             int64 // seconds, valid when CCHasMaxStale and not CCMaxStaleAny
	MinFresh             int64 // seconds, valid when CCHasMinFresh
}

// Has reports whether all the flags in f are set.
func (d *Directives) Has(f uint32) bool { return d.Flags&f == f }

// ParseCacheControl adds the directives in one Cache-Control field value to
// d. Call it once per header line to combine several lines; reset d first
// for a new message. Directive names are case-insensitive, values may be
// tokens or quoted strings, unknown directives (and extensions) are ignored.
// Duplicates: for the numeric directives the first occurrence wins (RFC 9111
// §4.2.1), and a conflicting second max-age or s-maxage sets CCConflict
// (the answer is then treated as stale). An unparsable number counts as 0,
// the most restrictive value ("invalid freshness information" means stale).
func ParseCacheControl(d *Directives, v []byte) {
	i, n := 0, len(v)
	// Every pass consumes at least one byte, so the loop is bounded by len(v).
	for i < n {
		for i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
			i++
		}
		if i >= n {
			return
		}
		start := i
		for i < n && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t' {
			i++
		}
		name := v[start:i]
		for i < n && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		var val []byte
		hasVal := false
		if i < n && v[i] == '=' {
			hasVal = true
			i++
			for i < n && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			if i < n && v[i] == '"' {
				i++
				vs := i
				for i < n && v[i] != '"' {
					if v[i] == '\\' && i+1 < n {
						i++
					}
					i++
				}
				val = v[vs:i]
				if i < n {
					i++ // closing quote
				}
			} else {
				vs := i
				for i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t' {
					i++
				}
				val = v[vs:i]
			}
		}
		// Skip whatever is left of a malformed member up to the next comma.
		for i < n && v[i] != ',' {
			i++
		}
		// Quoted and token forms are equivalent (RFC 9111 §5.2).
		d.apply(name, val, hasVal)
	}
}

func (d *Directives) apply(name, val []byte, hasVal bool) {
	switch len(name) {
	case 6:
		if eqFold(name, "public") {
			d.Flags |= CCPublic
		}
	case 7:
		if eqFold(name, "max-age") {
			d.setDelta(CCHasMaxAge, &d.MaxAge, val, true)
		} else if eqFold(name, "private") {
			d.Flags |= CCPrivate
			if hasVal && len(val) > 0 {
				d.Flags |= CCPrivateFields
			}
		}
	case 8:
		if eqFold(name, "no-store") {
			d.Flags |= CCNoStore
		} else if eqFold(name, "no-cache") {
			d.Flags |= CCNoCache
			if hasVal && len(val) > 0 {
				d.Flags |= CCNoCacheFields
			}
		} else if eqFold(name, "s-maxage") {
			d.setDelta(CCHasSMaxAge, &d.SMaxAge, val, true)
		}
	case 9:
		if eqFold(name, "max-stale") {
			if d.Flags&CCHasMaxStale != 0 {
				return
			}
			if !hasVal {
				d.Flags |= CCHasMaxStale | CCMaxStaleAny
				return
			}
			d.setDelta(CCHasMaxStale, &d.MaxStale, val, false)
		} else if eqFold(name, "min-fresh") {
			d.setDelta(CCHasMinFresh, &d.MinFresh, val, false)
		} else if eqFold(name, "immutable") {
			d.Flags |= CCImmutable
		}
	case 12:
		if eqFold(name, "no-transform") {
			d.Flags |= CCNoTransform
		}
	case 14:
		if eqFold(name, "only-if-cached") {
			d.Flags |= CCOnlyIfCached
		} else if eqFold(name, "stale-if-error") {
			d.setDelta(CCHasStaleIfError, &d.StaleIfError, val, false)
		}
	case 15:
		if eqFold(name, "must-revalidate") {
			d.Flags |= CCMustRevalidate
		} else if eqFold(name, "must-understand") {
			d.Flags |= CCMustUnderstand
		}
	case 16:
		if eqFold(name, "proxy-revalidate") {
			d.Flags |= CCProxyRevalidate
		}
	case 22:
		if eqFold(name, "stale-while-revalidate") {
			d.setDelta(CCHasStaleWhileRevalidate, &d.StaleWhileRevalidate, val, false)
		}
	}
}

// setDelta stores the first occurrence of a delta-seconds directive. A later
// different value of a freshness directive (conflict=true) marks CCConflict.
func (d *Directives) setDelta(flag uint32, dst *int64, val []byte, conflict bool) {
	x, ok := ParseDeltaSeconds(val)
	if !ok {
		x = 0
	}
	if d.Flags&flag != 0 {
		if conflict && x != *dst {
			d.Flags |= CCConflict
		}
		return
	}
	d.Flags |= flag
	*dst = x
}

// ParseDeltaSeconds parses delta-seconds (1*DIGIT). Values above MaxDelta
// become MaxDelta as RFC 9111 §1.2.2 requires. ok is false for anything but
// digits (an empty value included).
func ParseDeltaSeconds(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var x int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if x < MaxDelta {
			x = x*10 + int64(c-'0')
		}
	}
	if x > MaxDelta {
		x = MaxDelta
	}
	return x, true
}

// ParseAge parses an Age field value. A list-valued Age uses its first member
// and an invalid value is ignored (ok=false), per RFC 9111 §5.1.
func ParseAge(b []byte) (int64, bool) {
	b = httpbytes.TrimOWS(b)
	for i, c := range b {
		if c == ',' {
			b = httpbytes.TrimOWS(b[:i])
			break
		}
	}
	return ParseDeltaSeconds(b)
}

// eqFold compares b with the lower-case ASCII string s, ignoring the case of b.
func eqFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// ParseHTTPDate parses an HTTP-date in any of the three formats RFC 9110
// §5.6.7 requires recipients to accept, returning Unix seconds:
//
//	Sun, 06 Nov 1994 08:49:37 GMT   (IMF-fixdate)
//	Sunday, 06-Nov-94 08:49:37 GMT  (obsolete RFC 850)
//	Sun Nov  6 08:49:37 1994        (ANSI C asctime)
//
// now (Unix seconds) resolves RFC 850's two-digit year: a year that would lie
// more than 50 years in the future is taken as the most recent past year with
// the same last two digits. The day name is not checked against the date.
func ParseHTTPDate(b []byte, now int64) (int64, bool) {
	b = httpbytes.TrimOWS(b)
	comma := -1
	for i := 0; i < len(b) && i < 10; i++ {
		if b[i] == ',' {
			comma = i
			break
		}
	}
	var year, month, day, hh, mm, ss int
	ok := false
	switch {
	case comma == 3:
		// "Sun, 06 Nov 1994 08:49:37 GMT": exactly 29 bytes.
		r := b[4:]
		if len(r) != 25 || r[0] != ' ' || r[3] != ' ' || r[7] != ' ' || r[12] != ' ' || string(r[21:]) != " GMT" {
			return 0, false
		}
		day, ok = num(r[1:3])
		if !ok {
			return 0, false
		}
		if month = monthIndex(r[4:7]); month == 0 {
			return 0, false
		}
		if year, ok = num(r[8:12]); !ok {
			return 0, false
		}
		if hh, mm, ss, ok = clock(r[13:21]); !ok {
			return 0, false
		}
	case comma > 5:
		// "Sunday, 06-Nov-94 08:49:37 GMT".
		r := b[comma+1:]
		if len(r) != 23 || r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || string(r[19:]) != " GMT" {
			return 0, false
		}
		if day, ok = num(r[1:3]); !ok {
			return 0, false
		}
		if month = monthIndex(r[4:7]); month == 0 {
			return 0, false
		}
		yy, ok2 := num(r[8:10])
		if !ok2 {
			return 0, false
		}
		if hh, mm, ss, ok = clock(r[11:19]); !ok {
			return 0, false
		}
		nowYear, _, _ := civil(floorDiv(now, 86400))
		year = nowYear - nowYear%100 + yy
		if year > nowYear+50 {
			year -= 100
		}
	case comma < 0 && len(b) == 24:
		// "Sun Nov  6 08:49:37 1994".
		if b[3] != ' ' || b[7] != ' ' || b[10] != ' ' || b[19] != ' ' {
			return 0, false
		}
		if month = monthIndex(b[4:7]); month == 0 {
			return 0, false
		}
		d := b[8:10]
		if d[0] == ' ' {
			d = d[1:]
		}
		if day, ok = num(d); !ok {
			return 0, false
		}
		if hh, mm, ss, ok = clock(b[11:19]); !ok {
			return 0, false
		}
		if year, ok = num(b[20:24]); !ok {
			return 0, false
		}
	default:
		return 0, false
	}
	if day < 1 || day > daysIn(year, month) || hh > 23 || mm > 59 || ss > 60 {
		return 0, false
	}
	if ss == 60 {
		ss = 59 // a leap second names the last second of the minute
	}
	return daysFromCivil(year, month, day)*86400 + int64(hh*3600+mm*60+ss), true
}

// AppendHTTPDate appends t (Unix seconds) as an IMF-fixdate.
func AppendHTTPDate(dst []byte, t int64) []byte {
	days := floorDiv(t, 86400)
	sec := int(t - days*86400)
	y, m, d := civil(days)
	wd := int((days%7 + 11) % 7) // 1970-01-01 was a Thursday (index 4)
	dst = append(dst, dayNames[wd*3:wd*3+3]...)
	dst = append(dst, ',', ' ', byte('0'+d/10), byte('0'+d%10), ' ')
	dst = append(dst, monthNames[(m-1)*3:m*3]...)
	dst = append(dst, ' ', byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), ' ')
	h, mi, s := sec/3600, sec/60%60, sec%60
	dst = append(dst, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+mi/10), byte('0'+mi%10), ':', byte('0'+s/10), byte('0'+s%10))
	return append(dst, " GMT"...)
}

const (
	monthNames = "JanFebMarAprMayJunJulAugSepOctNovDec"
	dayNames   = "SunMonTueWedThuFriSat"
)

// monthIndex returns 1..12, or 0. Month names are case-sensitive in HTTP-date.
func monthIndex(b []byte) int {
	for i := 0; i < 12; i++ {
		if string(b) == monthNames[i*3:i*3+3] {
			return i + 1
		}
	}
	return 0
}

func num(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	x := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, true
}

func clock(b []byte) (h, m, s int, ok bool) {
	if len(b) != 8 || b[2] != ':' || b[5] != ':' {
		return 0, 0, 0, false
	}
	var ok1, ok2, ok3 bool
	h, ok1 = num(b[0:2])
	m, ok2 = num(b[3:5])
	s, ok3 = num(b[6:8])
	return h, m, s, ok1 && ok2 && ok3
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// daysFromCivil counts days from 1970-01-01 to y-m-d in the proleptic
// Gregorian calendar (the era arithmetic keeps it exact for any year).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// civil is the inverse of daysFromCivil.
func civil(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}
