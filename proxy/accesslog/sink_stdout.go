package accesslog

import (
	"context"
	"os"
)

// stdoutSink writes batches to the process's standard output, as captured
// when the Logger was created.
type stdoutSink struct{ f *os.File }

func newStdoutSink() *stdoutSink { return &stdoutSink{f: os.Stdout} }

func (s *stdoutSink) close() {}

func (s *stdoutSink) write(_ context.Context, b *batch, fail func(error)) int {
	n, err := s.f.Write(b.buf)
	if err != nil {
		fail(err)
		return b.linesWithin(n)
	}
	return b.n()
}
