// Package blocklist loads the optional host blocklist from a file and keeps
// it current: the file is checked every few seconds and reloaded when its
// modification time, size or inode changes, so editing it in place, replacing
// it by rename (as editors and config managers do) or recreating it all take
// effect without a restart. Polling is used rather than inotify because it
// survives the file being deleted and recreated and needs no directory watch.
package blocklist

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/obsshort/shortener/app"
)

// File is a blocklist read from a file; it implements app.HostPolicy.
type File struct {
	path   string
	logger *slog.Logger
	list   atomic.Pointer[app.Blocklist]

	mu    sync.Mutex // serialises reloads
	stamp stamp      // of the content last tried, loaded or not
}

var _ app.HostPolicy = (*File)(nil)

// stamp identifies a version of the file without reading it.
type stamp struct {
	mod  time.Time
	size int64
	ino  uint64
}

func stat(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	s := stamp{mod: fi.ModTime(), size: fi.Size()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s, nil
}

// Open loads the blocklist at path. A missing or invalid file is an error
// here, at start, so a typo in the configuration does not go unnoticed.
func Open(path string, logger *slog.Logger) (*File, error) {
	f := &File{path: path, logger: logger}
	st, err := stat(path)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", path, err)
	}
	list, err := load(path)
	if err != nil {
		return nil, err
	}
	f.list.Store(list)
	f.stamp = st
	return f, nil
}

func load(path string) (*app.Blocklist, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", path, err)
	}
	defer fh.Close()
	list, err := app.ParseBlocklist(fh)
	if err != nil {
		return nil, fmt.Errorf("blocklist %s: %w", path, err)
	}
	return list, nil
}

// Blocked implements app.HostPolicy with the list last loaded.
func (f *File) Blocked(host string) (string, bool) {
	return f.list.Load().Blocked(host)
}

// Len is the number of entries in the list in force.
func (f *File) Len() int { return f.list.Load().Len() }

// Reload reads the file again if it changed since the last attempt. On a
// missing or invalid file the list in force stays, and the error says why.
func (f *File) Reload() (changed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := stat(f.path)
	if err != nil {
		if f.stamp == (stamp{}) {
			return false, nil // already reported
		}
		f.stamp = stamp{}
		return false, fmt.Errorf("blocklist %s: %w; keeping the %d entries in force", f.path, err, f.Len())
	}
	if st == f.stamp {
		return false, nil
	}
	f.stamp = st
	list, err := load(f.path)
	if err != nil {
		return false, fmt.Errorf("%w; keeping the %d entries in force", err, f.Len())
	}
	f.list.Store(list)
	return true, nil
}

// Run checks the file every interval until ctx ends, logging reloads and
// failures.
func (f *File) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := f.Reload()
			switch {
			case err != nil:
				f.logger.Error("blocklist reload failed", "path", f.path, "err", err)
			case changed:
				f.logger.Info("blocklist reloaded", "path", f.path, "hosts", f.Len())
			}
		}
	}
}
