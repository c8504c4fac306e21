package casign

import (
	"math"
	"time"
)

// parseMillis parses X-Ca-Timestamp, decimal epoch milliseconds, into Unix
// nanoseconds. Strict: 1 to 13 ASCII digits, no sign or spaces, and at most
// maxMillis (year 2262) so the nanoseconds fit an int64.
func parseMillis(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 13 {
		return 0, false
	}
	var ms int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	if ms > maxMillis {
		return 0, false
	}
	return ms * int64(time.Millisecond), true
}

const maxMillis = math.MaxInt64 / int64(time.Millisecond)

// parseHTTPDate parses an IMF-fixdate (RFC 9110 §5.6.7), the only format
// HTTP/1.1 senders may generate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT", into
// Unix nanoseconds. The obsolete RFC 850 and asctime forms are refused: a
// signing client controls its Date header. The day name must be valid but,
// as in Go's time.Parse, is not checked against the date.
func parseHTTPDate(b []byte) (int64, bool) {
	const layout = "Sun, 06 Nov 1994 08:49:37 GMT"
	if len(b) != len(layout) || b[3] != ',' || b[4] != ' ' || b[7] != ' ' ||
		b[11] != ' ' || b[16] != ' ' || b[19] != ':' || b[22] != ':' ||
		string(b[25:]) != " GMT" {
		return 0, false
	}
	if dayName(b[:3]) < 0 {
		return 0, false
	}
	day, ok1 := num(b[5:7])
	month := monthName(b[8:11])
	year, ok2 := num(b[12:16])
	hour, ok3 := num(b[17:19])
	minute, ok4 := num(b[20:22])
	sec, ok5 := num(b[23:25])
	// Years outside 1970..2261 are refused: UnixNano wraps silently beyond
	// 2262, which could map a far-future date into the accepted window.
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || month < 1 || year < 1970 || year > 2261 ||
		day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC).UnixNano(), true
}

func num(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func dayName(b []byte) int {
	switch string(b) {
	case "Mon":
		return 1
	case "Tue":
		return 2
	case "Wed":
		return 3
	case "Thu":
		return 4
	case "Fri":
		return 5
	case "Sat":
		return 6
	case "Sun":
		return 0
	}
	return -1
}

func monthName(b []byte) int {
	switch string(b) {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
