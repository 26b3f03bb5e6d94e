// Package manifest writes and checks BLAKE3 manifests in the format of
// b3sum (BLAKE3's own command line tool), so that `b3sum --check` run in
// the manifest's directory checks what sure wrote, and sure checks what
// b3sum wrote:
//
//	<64 lowercase hex digits><two spaces><path>\n
//
// A path holding a backslash or a newline is escaped as b3sum escapes it:
// the line starts with a backslash, and in the path "\" becomes `\\` and a
// newline `\n`. A name that is not UTF-8 is written with U+FFFD in place of
// the bad bytes, as b3sum does; neither b3sum nor sure can check such a
// line, and both say so.
//
// Paths are written relative to the manifest's directory when the file is
// under it, else absolute. `sure verify MANIFEST` resolves relative paths
// against the manifest's directory (b3sum against its working directory:
// run it from there).
package manifest

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/zeebo/blake3"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/readback"
)

// Sum is a BLAKE3 digest of the default length, as b3sum prints it.
type Sum [32]byte

func (s Sum) String() string { return hex.EncodeToString(s[:]) }

// Entry is one line of a manifest.
type Entry struct {
	Sum  Sum
	Path string // unescaped, as written: relative to the manifest's directory, or absolute
}

// FormatLine is the line b3sum prints for path with sum, newline included.
func FormatLine(sum Sum, path string) string {
	path = strings.ToValidUTF8(filepath.ToSlash(path), "\uFFFD")
	prefix := ""
	if strings.ContainsAny(path, "\\\n") {
		prefix = `\`
		path = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(path)
	}
	return prefix + sum.String() + "  " + path + "\n"
}

// ParseLine reads one line (without its newline) as b3sum --check does.
func ParseLine(line string) (Entry, error) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	if line == "" {
		return Entry{}, errors.New("empty line")
	}
	if len(line) <= 66 || line[64:66] != "  " {
		return Entry{}, errors.New("not a b3sum line (<64 hex digits>, two spaces, a path)")
	}
	var e Entry
	for _, c := range line[:64] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return Entry{}, errors.New("the sum is not 64 lowercase hex digits")
		}
	}
	hex.Decode(e.Sum[:], []byte(line[:64]))
	e.Path = line[66:]
	if escaped {
		p, err := unescape(e.Path)
		if err != nil {
			return Entry{}, err
		}
		e.Path = p
	}
	if !utf8.ValidString(e.Path) || strings.ContainsRune(e.Path, utf8.RuneError) {
		return Entry{}, errors.New("the path is not valid UTF-8 (b3sum wrote U+FFFD for bytes it could not print): the file cannot be named")
	}
	return e, nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch {
		case i == len(s):
			return "", errors.New(`the path ends in a lone backslash`)
		case s[i] == '\\':
			b.WriteByte('\\')
		case s[i] == 'n':
			b.WriteByte('\n')
		default:
			return "", fmt.Errorf(`unknown escape \%c in the path`, s[i])
		}
	}
	return b.String(), nil
}

// Writer writes a manifest atomically and durably: its lines go to a
// temporary file next to it as files are added, and Commit publishes it.
// Add may be called from several goroutines.
type Writer struct {
	mu   sync.Mutex
	name string
	base string
	p    *durable.Pending
	w    *bufio.Writer
	n    int
	err  error
}

// Create starts a manifest at name.
func Create(name string) (*Writer, error) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, &os.PathError{Op: "manifest", Path: name, Err: err}
	}
	p, err := durable.Create(abs, 0o644)
	if err != nil {
		return nil, err
	}
	return &Writer{name: name, base: filepath.Dir(abs), p: p, w: bufio.NewWriterSize(p, 64<<10)}, nil
}

// Name is the manifest's path as given to Create.
func (w *Writer) Name() string { return w.name }

// Add records that the file at path (absolute, or relative to the working
// directory) has sum.
func (w *Writer) Add(path string, sum Sum) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.WriteString(FormatLine(sum, w.rel(path))); err != nil {
		w.err = &os.PathError{Op: "write", Path: w.name, Err: err}
		return w.err
	}
	w.n++
	return nil
}

// rel is path as the manifest names it.
func (w *Writer) rel(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(w.base, abs); err == nil && r != ".." && !strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return r
	}
	return abs
}

// Len is the number of files added.
func (w *Writer) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Commit makes the manifest durable under its name.
func (w *Writer) Commit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		w.p.Cleanup()
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.p.Cleanup()
		return &os.PathError{Op: "write", Path: w.name, Err: err}
	}
	return w.p.Commit()
}

// Cleanup removes the unpublished manifest; harmless after Commit.
func (w *Writer) Cleanup() { w.p.Cleanup() }

// HashFile is the BLAKE3 sum of the file at path, read through the cache.
func HashFile(path string) (Sum, error) {
	f, err := os.Open(path)
	if err != nil {
		return Sum{}, err
	}
	defer f.Close()
	h := blake3.New()
	if _, err := io.Copy(h, f); err != nil {
		return Sum{}, err
	}
	var s Sum
	h.Sum(s[:0])
	return s, nil
}

// Result is the check of one line.
type Result struct {
	Line int    // 1-based
	Path string // as written in the manifest
	File string // where it was looked for
	// Err is nil when the file read back from its device has the sum.
	// A *MismatchError when it has another; anything else when the line
	// or the file could not be read.
	Err error
}

// LineError: a line of the manifest is not in b3sum's format, or names
// no file that can be looked for.
type LineError struct {
	Name string // the manifest
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// MismatchError: the file read back from its device does not have the
// manifest's sum.
type MismatchError struct {
	File      string
	Want, Got Sum
	Size      int64
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("'%s' read back from the device has BLAKE3 %s, the manifest says %s", e.File, e.Got, e.Want)
}

// Check reads the manifest at name and each file it lists back from its
// device (package readback), calling report with the outcome of every
// line in order. The error is for the manifest itself (it cannot be
// read, or the context ended).
func Check(ctx context.Context, name string, r *readback.Reader, report func(Result)) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	abs, err := filepath.Abs(name)
	if err != nil {
		return &os.PathError{Op: "manifest", Path: name, Err: err}
	}
	base := filepath.Dir(abs)
	br := bufio.NewReaderSize(f, maxLine)
	h := blake3.New()
	for lineNo := 1; ; lineNo++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		line, tooLong, rerr := readLine(br)
		if rerr != nil && rerr != io.EOF {
			return &os.PathError{Op: "read", Path: name, Err: rerr}
		}
		if line == "" && !tooLong && rerr == io.EOF {
			return nil
		}
		res := Result{Line: lineNo}
		e, err := ParseLine(strings.TrimSuffix(line, "\n"))
		if tooLong {
			err = fmt.Errorf("line longer than %d KiB: not a b3sum line", maxLine>>10)
		}
		if err != nil {
			res.Err = &LineError{Name: name, Line: lineNo, Err: err}
			report(res)
			if rerr == io.EOF {
				return nil
			}
			continue
		}
		res.Path, res.File = e.Path, e.Path
		if !filepath.IsAbs(res.File) {
			res.File = filepath.Join(base, filepath.FromSlash(res.File))
		}
		res.Err = checkOne(r, res.File, e.Sum, h)
		report(res)
		if rerr == io.EOF {
			return nil
		}
	}
}

// maxLine bounds a manifest line: a sum, two spaces and a path escaped
// to at most twice PATH_MAX fit many times over. A file given as a
// manifest that is none (a disk image) may have no newline for gigabytes.
const maxLine = 64 << 10

// readLine reads up to and including the next newline. A longer line
// than maxLine is skipped to its end and reported as tooLong, without
// being held in memory.
func readLine(br *bufio.Reader) (line string, tooLong bool, err error) {
	b, err := br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return string(b), false, err
	}
	for err == bufio.ErrBufferFull {
		_, err = br.ReadSlice('\n')
	}
	return "", true, err
}

func checkOne(r *readback.Reader, file string, want Sum, h *blake3.Hasher) error {
	if err := r.InvalidateOnce(file); err != nil {
		return err
	}
	h.Reset()
	n, err := r.Copy(h, file)
	if err != nil {
		return err
	}
	var got Sum
	h.Sum(got[:0])
	if got != want {
		return &MismatchError{File: file, Want: want, Got: got, Size: n}
	}
	return nil
}
