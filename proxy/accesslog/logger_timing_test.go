package accesslog

import (
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// BenchmarkPut is the logger's sustained rate: Reserve, fill a typical
// record, Commit, with the real shipper encoding into a file. Producers
// that find the ring full yield and retry, so every op is a record shipped
// and ns/op is bounded by the shipper; the failed reserves are reported as
// drops per op (they would be drops in the gateway).
func BenchmarkPut(b *testing.B) {
	l, err := New(Config{
		FlushInterval: Duration(100 * time.Millisecond),
		Sinks:         []SinkConfig{{Type: "file", Path: filepath.Join(b.TempDir(), "bench.log")}},
	})
	if err != nil {
		b.Fatal(err)
	}
	id := []byte("0f8fad5b-d9cb-469f-a165-70867728950e")
	before := l.Stats().Dropped
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := l.Reserve(200)
			for r == nil {
				runtime.Gosched()
				r = l.Reserve(200)
			}
			fillRecord(r, id)
			l.Commit(r)
		}
	})
	shutdown(b, l)
	b.StopTimer()
	b.ReportMetric(float64(l.Stats().Dropped-before)/float64(b.N), "dropped/op")
}

// BenchmarkRingPut isolates the ring: Reserve+fill+Commit while a consumer
// goroutine drains without encoding.
func BenchmarkRingPut(b *testing.B) {
	l := &Logger{ring: newRing(DefaultRingSize, false), sampleAll: true}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			r := l.ring.peek()
			if r == nil {
				select {
				case <-stop:
					return
				default:
					time.Sleep(50 * time.Microsecond)
					continue
				}
			}
			l.ring.release(r)
		}
	}()
	id := []byte("0f8fad5b-d9cb-469f-a165-70867728950e")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if r := l.Reserve(200); r != nil {
				fillRecord(r, id)
				l.Commit(r)
			}
		}
	})
	b.StopTimer()
	close(stop)
	<-done
}

func BenchmarkEncode(b *testing.B) {
	for _, keepQuery := range []bool{false, true} {
		name := "default"
		if keepQuery {
			name = "query_masked"
		}
		b.Run(name, func(b *testing.B) {
			var r Record
			r.SetKeepQuery(keepQuery)
			fillRecord(&r, []byte("0f8fad5b-d9cb-469f-a165-70867728950e"))
			enc := NewEncoder(DefaultMaskedParams)
			buf := enc.AppendJSON(nil, &r)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				buf = enc.AppendJSON(buf[:0], &r)
			}
		})
	}
}

func BenchmarkEncodeStdlibTime(b *testing.B) {
	// Reference for appendTime: the same format through time.AppendFormat.
	buf := make([]byte, 0, 64)
	ts := time.Unix(0, testTime)
	b.ReportAllocs()
	for b.Loop() {
		buf = ts.UTC().AppendFormat(buf[:0], "2006-01-02T15:04:05.000Z")
	}
}

func BenchmarkAppendTime(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendTime(buf[:0], testTime)
	}
}
