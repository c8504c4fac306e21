package accesslog

import (
	"context"
	"errors"
	"os"
	"time"
)

// fileSink appends to a file. The file is reopened when asked (Reopen, for
// logrotate's postrotate SIGUSR1) and when a periodic stat shows that the
// path no longer names the open file (renamed or deleted, logrotate without
// a signal). Lines written between a rename and the reopen go to the renamed
// file, so each record ends up in exactly one of the two. Used only from
// its sink goroutine.
type fileSink struct {
	path  string
	every time.Duration
	f     *os.File
	fi    os.FileInfo // of f, for os.SameFile against the path
}

func newFileSink(c SinkConfig) *fileSink {
	s := &fileSink{path: c.Path, every: time.Duration(c.CheckInterval)}
	// An open failure here is not fatal: the directory may appear later;
	// write retries the open and counts drops meanwhile.
	_ = s.open()
	return s
}

func (s *fileSink) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.fi = f, fi
	return nil
}

func (s *fileSink) close() {
	if s.f != nil {
		s.f.Close()
		s.f, s.fi = nil, nil
	}
}

func (s *fileSink) reopen() error {
	s.close()
	return s.open()
}

func (s *fileSink) interval() time.Duration { return s.every }

// maintain reopens the file when the path now names another file or none.
func (s *fileSink) maintain() error {
	if s.f == nil {
		return s.open()
	}
	fi, err := os.Stat(s.path)
	if err == nil && os.SameFile(fi, s.fi) {
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return s.reopen()
}

func (s *fileSink) write(_ context.Context, b *batch, fail func(error)) int {
	if s.f == nil {
		if err := s.open(); err != nil {
			fail(err)
			return 0
		}
	}
	n, err := s.f.Write(b.buf)
	if err != nil {
		fail(err)
		// Reopen on the next batch: the error may be a lost mount or a
		// file replaced under us.
		s.close()
		return b.linesWithin(n)
	}
	return b.n()
}
