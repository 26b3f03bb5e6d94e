// Package beneath opens and changes names under a destination directory
// without following a symbolic link on the way there. A stick is untrusted
// input: a link planted on it (or swapped in while a job runs) must never
// carry a write out of the destination. The destination itself is opened
// once, as the user named it, links and all; every directory beneath it is
// opened from that descriptor with no link followed, and every change is
// made relative to a directory descriptor, so nothing checked by path can
// be replaced before it is used.
package beneath

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrSymlink says a symbolic link stands where a directory is expected
// beneath the destination; it was not followed.
var ErrSymlink = errors.New("is a symbolic link, not followed")

// ErrOutside says a path is not beneath the root it was resolved in.
var ErrOutside = errors.New("is not beneath the destination")

// Root is a destination directory and the directories beneath it that are
// in use. Its methods may be called from several goroutines.
type Root struct {
	path string
	f    *os.File // nil: unconfined, every directory is opened by its path

	mu     sync.Mutex
	dirs   map[string]*Dir
	budget int // directories that may stay open at once (Spare)
}

// Open opens the directory path as the root of a job's writes. path itself
// is followed like any path the user typed.
func Open(path string) (*Root, error) {
	f, err := openDir(path)
	if err != nil {
		return nil, err
	}
	return &Root{path: filepath.Clean(path), f: f, dirs: map[string]*Dir{}, budget: dirBudget()}, nil
}

// Unconfined is a Root that opens every directory by its path, following
// links: for callers that write only where they were told to (tests,
// a single file the user named).
func Unconfined() *Root {
	return &Root{dirs: map[string]*Dir{}, budget: dirBudget()}
}

// Path is the root directory as it was opened ("" when unconfined).
func (r *Root) Path() string { return r.path }

// File is the open root directory (nil when unconfined).
func (r *Root) File() *os.File { return r.f }

// Close closes the root. Directories still held stay usable until their
// release.
func (r *Root) Close() error {
	if r.f == nil {
		return nil
	}
	return r.f.Close()
}

// rel is path relative to the root; a path that leaves it is refused.
func (r *Root) rel(path string) (string, error) {
	rel, err := filepath.Rel(r.path, filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", &os.PathError{Op: "open", Path: path, Err: ErrOutside}
	}
	return rel, nil
}

// Dir returns the directory at path (the root or beneath it), opened
// without following any link beneath the root. A link in the way fails
// with ErrSymlink, a file with a "not a directory" error. While a handle
// is held, later calls for the same path share it, and so keep using the
// directory first opened, whatever is renamed in its place. Release it
// when done.
func (r *Root) Dir(path string) (*Dir, error) {
	path = filepath.Clean(path)
	r.mu.Lock()
	if d, ok := r.dirs[path]; ok {
		d.refs++
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	f, err := r.open(path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dirs[path]; ok {
		f.Close()
		d.refs++
		return d, nil
	}
	d := &Dir{root: r, path: path, f: f, refs: 1}
	r.dirs[path] = d
	return d, nil
}

func (r *Root) open(path string) (*os.File, error) {
	if r.f == nil {
		return openDir(path)
	}
	rel, err := r.rel(path)
	if err != nil {
		return nil, err
	}
	f, err := openBeneath(r.f, rel, path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: linkErr(err)}
	}
	return f, nil
}

// Parent returns the directory holding path and path's last element.
func (r *Root) Parent(path string) (*Dir, string, error) {
	path = filepath.Clean(path)
	d, err := r.Dir(filepath.Dir(path))
	if err != nil {
		return nil, "", err
	}
	return d, filepath.Base(path), nil
}

// Lstat describes path itself, a link not followed, through its parent.
func (r *Root) Lstat(path string) (fs.FileInfo, error) {
	d, name, err := r.Parent(path)
	if err != nil {
		return nil, err
	}
	defer d.Release()
	return d.Lstat(name)
}

// Dir is a directory opened beneath a Root.
type Dir struct {
	root *Root
	path string
	f    *os.File
	refs int // under root.mu
}

// Path is the directory's path, for messages.
func (d *Dir) Path() string { return d.path }

// File is the open directory, for flushes and attributes.
func (d *Dir) File() *os.File { return d.f }

// Name is the path of name in d, for messages.
func (d *Dir) Name(name string) string { return filepath.Join(d.path, name) }

// Retain takes one more hold of d; each hold is released on its own.
func (d *Dir) Retain() *Dir {
	d.root.mu.Lock()
	d.refs++
	d.root.mu.Unlock()
	return d
}

// Release gives back one hold of d; the last one closes it.
func (d *Dir) Release() {
	d.root.mu.Lock()
	d.refs--
	last := d.refs == 0
	if last && d.root.dirs[d.path] == d {
		delete(d.root.dirs, d.path)
	}
	d.root.mu.Unlock()
	if last {
		d.f.Close()
	}
}

// Spare reports whether d may stay open for long: whether the directories
// open beneath its root are within a share of the process's limit of
// open files that leaves the rest to the files being copied. A caller
// told no releases d and opens it again when needed.
func (d *Dir) Spare() bool {
	d.root.mu.Lock()
	defer d.root.mu.Unlock()
	return d.refs > 1 || len(d.root.dirs) <= d.root.budget
}

// Sub returns the directory name in d, as Root.Dir does.
func (d *Dir) Sub(name string) (*Dir, error) {
	return d.root.Dir(d.Name(name))
}

// openDir opens path, following it, and fails unless it is a directory.
func openDir(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		if err == nil {
			err = &os.PathError{Op: "open", Path: path, Err: errNotDir}
		}
		return nil, err
	}
	return f, nil
}
