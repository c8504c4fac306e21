package proxy

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/sluicegw/sluice/policy"
)

// Source reads the configuration's bytes: a file, or the embedded quickstart.
type Source struct {
	// Name is what errors call the source (the file path, or "quickstart.toml (embedded)").
	Name string
	// Path is the file to read; empty means Embedded is the only content.
	Path string
	// Embedded is used when Path is empty.
	Embedded []byte
}

// Parse reads and decodes the source without compiling it (cmd/sluice reads
// [state] from it to build the stores before the server exists).
func (src Source) Parse() (*policy.Parsed, error) {
	data, err := src.read()
	if err != nil {
		return nil, err
	}
	return policy.Parse(src.Name, data)
}

func (src Source) read() ([]byte, error) {
	if src.Path == "" {
		return src.Embedded, nil
	}
	return policy.ReadBounded(src.Path) // at most policy.MaxFileSize (defect 13)
}

// Reloader rebuilds the snapshot from its source on demand (SIGHUP, POST
// /admin/reload) and when the file changes on disk. An invalid file never
// replaces the snapshot serving; its errors are logged, counted and shown by
// GET /admin/config. Safe for concurrent use.
type Reloader struct {
	s   *Server
	src Source

	mu          sync.Mutex // serializes reloads and guards the fields below
	lastErr     string
	lastErrAt   time.Time
	lastHash    string
	lastModTime time.Time
	lastSize    int64
}

// NewReloader ties a server to its configuration source.
func NewReloader(s *Server, src Source) *Reloader { return &Reloader{s: s, src: src} }

// ReloadStatus is what GET /admin/config shows.
type ReloadStatus struct {
	Version     uint64    `json:"version"`
	Hash        string    `json:"hash"`
	File        string    `json:"file"`
	LoadedAt    time.Time `json:"loaded_at"`
	LastError   string    `json:"last_error"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// Status reports the serving snapshot and the last failed reload, if the
// last attempt failed.
func (r *Reloader) Status() ReloadStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := ReloadStatus{LastError: r.lastErr, LastErrorAt: r.lastErrAt, File: r.src.Name}
	if snap := r.s.Snapshot(); snap != nil {
		st.Version, st.Hash, st.LoadedAt = snap.Version, snap.Hash, snap.LoadedAt
	}
	return st
}

// ErrUnchanged is returned by Reload when the source has the bytes already serving.
var ErrUnchanged = errors.New("configuration unchanged")

// Reload reads, validates and compiles the source and publishes the result.
// On any error the serving snapshot stays.
func (r *Reloader) Reload() (*policy.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(false)
}

func (r *Reloader) reloadLocked(skipUnchanged bool) (*policy.Snapshot, error) {
	data, err := r.src.read()
	if err == nil {
		var p *policy.Parsed
		p, err = policy.Parse(r.src.Name, data)
		if err == nil {
			if cur := r.s.Snapshot(); skipUnchanged && cur != nil && cur.Hash == p.Hash {
				return cur, ErrUnchanged
			}
			var snap *policy.Snapshot
			snap, err = r.s.Compile(p)
			if err == nil {
				if cur := r.s.Snapshot(); cur != nil {
					for _, k := range restartOnly(cur, snap) {
						r.s.log.Warn("setting changed; it applies after a restart", "key", k)
					}
				}
				r.s.Publish(snap)
				configReloads.Inc()
				r.lastErr, r.lastErrAt = "", time.Time{}
				r.s.log.Info("configuration loaded", "file", r.src.Name, "version", snap.Version,
					"hash", snap.Hash[:12], "apis", len(snap.APIs))
				return snap, nil
			}
		}
	}
	configReloadErrors.Inc()
	r.lastErr, r.lastErrAt = err.Error(), time.Now()
	var list policy.Errors
	if errors.As(err, &list) {
		for _, e := range list {
			r.s.log.Error("configuration rejected; the previous one keeps serving", "error", e.Error())
		}
	} else {
		r.s.log.Error("configuration rejected; the previous one keeps serving", "error", err.Error())
	}
	return nil, err
}

// Watch checks the file every interval and reloads when its size, time or
// content changed, until ctx ends. Embedded sources are never watched.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration) {
	if r.src.Path == "" {
		return
	}
	if fi, err := os.Stat(r.src.Path); err == nil {
		r.mu.Lock()
		r.lastModTime, r.lastSize = fi.ModTime(), fi.Size()
		r.mu.Unlock()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if snap := r.s.Snapshot(); snap != nil && !snap.Server.WatchConfig {
			continue
		}
		fi, err := os.Stat(r.src.Path)
		if err != nil {
			continue // a file being replaced may be missing for a moment
		}
		r.mu.Lock()
		if !fi.ModTime().Equal(r.lastModTime) || fi.Size() != r.lastSize {
			r.lastModTime, r.lastSize = fi.ModTime(), fi.Size()
			_, _ = r.reloadLocked(true)
		}
		r.mu.Unlock()
	}
}

// restartOnly names the settings that differ between two snapshots but are
// read only at start: listeners, connection timeouts and buffer sizes, the
// stores and the access log. Everything else applies on reload.
func restartOnly(old, cur *policy.Snapshot) []string {
	var keys []string
	o, n := old.Server, cur.Server
	if !slices.Equal(o.Listen, n.Listen) {
		keys = append(keys, "server.listen")
	}
	if o.AdminListen != n.AdminListen {
		keys = append(keys, "server.admin_listen")
	}
	if o.ReadTimeout != n.ReadTimeout || o.WriteTimeout != n.WriteTimeout || o.IdleTimeout != n.IdleTimeout {
		keys = append(keys, "server.read_timeout/write_timeout/idle_timeout")
	}
	if o.MaxHeaderSize != n.MaxHeaderSize || o.StreamThreshold != n.StreamThreshold {
		keys = append(keys, "server.max_header_size/stream_threshold")
	}
	if o.DemoOrigin != n.DemoOrigin {
		keys = append(keys, "demo_origin.listen")
	}
	if !reflect.DeepEqual(old.Config.State, cur.Config.State) {
		keys = append(keys, "state")
	}
	if !reflect.DeepEqual(old.Config.AccessLog, cur.Config.AccessLog) {
		keys = append(keys, "access_log")
	}
	keys = append(keys, tlsRestartOnly(old, cur)...) // proxy/tls.go
	return keys
}
