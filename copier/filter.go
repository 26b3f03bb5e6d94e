package copier

import (
	"path/filepath"
	"strings"
)

// excluder tells, for a path beneath one of the operands srcs, whether
// opt's filter leaves it out, or nil when there is no filter. Paths are
// named for the filter as rsync names them: beneath an operand written
// with a trailing slash (SRC/, ".") from inside it, else from its own
// name.
func (o *Options) excluder(srcs []string) func(path string, dir bool) bool {
	if o.Filter.Empty() {
		return nil
	}
	return func(path string, dir bool) bool {
		name, ok := filterName(srcs, path)
		return ok && o.Filter.Excluded(name, dir)
	}
}

// filterName is path as the filter sees it, from the innermost operand
// holding it.
func filterName(srcs []string, path string) (string, bool) {
	best, bestRel := "", ""
	for _, s := range srcs {
		root := filepath.Clean(s)
		rel, err := filepath.Rel(root, filepath.Clean(path))
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		if best == "" || len(root) > len(filepath.Clean(best)) {
			best, bestRel = s, rel
		}
	}
	if best == "" {
		return "", false
	}
	name := filepath.ToSlash(bestRel)
	base := filepath.Base(filepath.Clean(best))
	contents := strings.HasSuffix(best, "/") || strings.HasSuffix(best, string(filepath.Separator)) ||
		base == "." || base == ".." || base == string(filepath.Separator)
	switch {
	case contents && name == ".":
		return "", false // the root of the transfer itself
	case contents:
		return name, true
	case name == ".":
		return base, true
	}
	return base + "/" + name, true
}

// excluded reports whether the filter leaves path out, and counts it.
func (r *run) excluded(path string, dir bool) bool {
	if r.excl == nil || !r.excl(path, dir) {
		return false
	}
	r.mu.Lock()
	r.sum.Excluded++
	r.mu.Unlock()
	return true
}
