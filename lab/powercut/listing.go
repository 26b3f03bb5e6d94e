//go:build linux

package powercut

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
)

// Listing is what a mounted crash state holds: every file that is not a
// directory, by its path under the mount, with its content's hash. The
// oracle judges a listing, so a state mounted elsewhere (in a VM guest)
// is judged exactly as one mounted here.
type Listing map[string]ListedFile

// ListedFile is one file of a listing. OK is false when it could not be
// read whole as a regular file: it then counts as absent.
type ListedFile struct {
	Sum [32]byte
	OK  bool
}

// MarshalJSON spells the hash in hex, "" for a file that could not be read.
func (f ListedFile) MarshalJSON() ([]byte, error) {
	if !f.OK {
		return json.Marshal("")
	}
	return json.Marshal(hex.EncodeToString(f.Sum[:]))
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (f *ListedFile) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*f = ListedFile{}
		return nil
	}
	h, err := hex.DecodeString(s)
	if err != nil || len(h) != 32 {
		return fmt.Errorf("powercut: bad hash %q in a listing", s)
	}
	*f = ListedFile{Sum: [32]byte(h), OK: true}
	return nil
}

// ListMount lists every file under dir. A directory that cannot be read
// hides what it holds, as it would from a user.
func ListMount(dir string) Listing {
	l := Listing{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return nil
		}
		sum, ok := hashFile(p)
		l[rel] = ListedFile{Sum: sum, OK: ok}
		return nil
	})
	return l
}

// hash is the content of the file at rel, ok false when the listing has
// no readable file there.
func (l Listing) hash(rel string) (sum [32]byte, ok bool) {
	f, found := l[filepath.Clean(rel)]
	return f.Sum, found && f.OK
}

// sortedPaths lists the listing's paths in order.
func sortedPaths(l Listing) []string {
	p := make([]string, 0, len(l))
	for k := range l {
		p = append(p, k)
	}
	sort.Strings(p)
	return p
}

// under returns the part of the listing below dir (a path under the
// mount), with paths relative to dir.
func (l Listing) under(dir string) Listing {
	out := Listing{}
	for p, f := range l {
		if rel, err := filepath.Rel(dir, p); err == nil && filepath.IsLocal(rel) {
			out[rel] = f
		}
	}
	return out
}
