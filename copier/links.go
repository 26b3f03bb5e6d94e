package copier

import (
	"errors"
	"os"

	"github.com/sure-tools/sure/commit"
)

// Hard links (-a and mv): a source file with several names in the job is
// copied once, under its first name met, and every later name becomes a
// hard link to that copy through the commit protocol (commit.Link), so it
// is reported durable only after the barriers, like a file. The later
// names are linked after the walk, when every first copy is staged or
// committed; they are held in memory until then, one entry per extra name,
// as cp -a holds its table of inodes.

// inode identifies a source file across its names.
type inode struct{ dev, ino uint64 }

// linkFirst is the copy of the first name of a multiply linked file.
type linkFirst struct {
	entry *commit.Entry // set once the copy is staged; nil if it failed
}

type linkLater struct {
	first *linkFirst
	j     job
}

type hardLinks struct {
	seen  map[inode]*linkFirst
	later []linkLater
}

// linkedLater takes a regular file bound for j.dst. It returns true when
// the file is a later name of a source file already in the job: it will be
// linked at the end. Otherwise the file is copied, and j remembers whether
// later names will link to it.
func (r *run) linkedLater(j *job) bool {
	if !r.opt.Preserve.Links {
		return false // cp -r, like coreutils cp without --preserve=links
	}
	id, nlink, ok := inodeOf(j.info)
	if !ok || nlink < 2 {
		return false
	}
	if r.links.seen == nil {
		r.links.seen = map[inode]*linkFirst{}
	}
	first, ok := r.links.seen[id]
	if !ok {
		first = &linkFirst{}
		r.links.seen[id] = first
		j.link = first
		return false
	}
	r.links.later = append(r.links.later, linkLater{first: first, j: *j})
	return true
}

// staged records the entry of a first copy for its later names.
func (j *job) staged(e *commit.Entry) {
	if j.link != nil {
		j.link.entry = e
	}
}

// makeLinks stages every later name as a link to its first copy, after
// the workers ended; the flusher may still be committing a batch. Where the link cannot be made (the destination does
// not hold hard links, or the first copy failed), the data is copied
// again: the file is then complete, only not linked.
func (r *run) makeLinks() {
	for _, l := range r.links.later {
		if r.ctx.Err() != nil {
			return
		}
		if l.first.entry == nil {
			r.copyFile(l.j) // the first copy failed: this one fails or succeeds on its own
			continue
		}
		j := l.j
		err := r.c.Link(l.first.entry, j.dst, r.opt.NoClobber, &j)
		switch {
		case err == nil:
		case errors.Is(err, commit.ErrLinkSource):
			r.copyFile(j)
		case linkUnsupported(err):
			r.mu.Lock()
			r.sum.LinksNotKept++
			r.mu.Unlock()
			r.copyFile(j)
		default:
			var le *os.LinkError
			if errors.As(err, &le) {
				// Name the destination, not sure's temporary file.
				err = &os.PathError{Op: "link", Path: j.dst, Err: le.Err}
			}
			r.fail(j.src, j.dst, err)
		}
		r.maybeFlush()
	}
	r.links.later = nil
}
