//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// withSource makes a source tree on the tmpfs, hands it to f and removes
// it, so that only one scenario's source takes memory at a time.
func (e *env) withSource(name string, make func(path string) (tree, error), f func(path string, t tree) error) (err error) {
	dir := filepath.Join(e.src, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	path := filepath.Join(dir, name)
	e.logf("%s: writing the source tree", name)
	t, err := make(path)
	if err != nil {
		return fmt.Errorf("writing the source: %w", err)
	}
	e.logf("%s: %d file(s), %s", name, t.files, fmtBytes(t.bytes))
	return f(path, t)
}

func (e *env) small(ctx context.Context, r *results) error {
	title := fmt.Sprintf("Many small files: %d files of %s–%s", e.smallFiles, fmtBytes(int64(e.smallMin)), fmtBytes(int64(e.smallMax)))
	return e.withSource("small", func(p string) (tree, error) {
		return smallTree(p, e.smallFiles, int64(e.smallMin), int64(e.smallMax), 1)
	}, func(p string, t tree) error {
		sr, err := e.compare(ctx, title, p, t, false, e.dests)
		r.small = sr
		return err
	})
}

func (e *env) big(ctx context.Context, r *results) error {
	title := "One big file: " + fmtBytes(int64(e.bigSize))
	return e.withSource("big", func(p string) (tree, error) {
		return bigFile(p, int64(e.bigSize), 2)
	}, func(p string, t tree) error {
		sr, err := e.compare(ctx, title, p, t, true, e.dests)
		r.big = sr
		return err
	})
}

func (e *env) photo(ctx context.Context, r *results) error {
	return e.withSource("photos", func(p string) (tree, error) {
		return photoTree(p, int64(e.photoSize), 3)
	}, func(p string, t tree) error {
		title := fmt.Sprintf("Photo library: %d files, %s (JPEG, raw, video, sidecars, thumbnails)", t.files, fmtBytes(t.bytes))
		sr, err := e.compare(ctx, title, p, t, false, e.dests)
		r.photo = sr
		return err
	})
}

// rssRow is sure's memory for one tree size.
type rssRow struct {
	source tree
	cell   cell
}

// rss measures sure cp's peak resident memory as the file count grows,
// on the plain disk (a stick would only make the runs longer).
func (e *env) rss(ctx context.Context, r *results) error {
	sure := peers()[0]
	for i, n := range e.rssFiles {
		name := fmt.Sprintf("rss%d", n)
		err := e.withSource(name, func(p string) (tree, error) {
			return smallTree(p, n, int64(e.smallMin), int64(e.smallMax), uint64(10+i))
		}, func(p string, t tree) error {
			// One run: the peak is what is asked, not a time.
			row := rssRow{source: t}
			for range 1 {
				// ext4 gives an inode to every 16 KiB: tiny files need
				// room for their inodes more than for their bytes.
				spec := e.destFor(onPlain, t.bytes)
				spec.size = max(spec.size, int64(t.files)*20<<10+256<<20)
				res, err := e.timed(ctx, spec, sure, p, t)
				if err != nil {
					row.cell.err = err.Error()
					break
				}
				e.logf("rss: %d files: %.2f s, peak RSS %s", n, res.took.Seconds(), fmtBytes(res.maxRSS))
				row.cell.runs = append(row.cell.runs, res)
			}
			r.rss = append(r.rss, row)
			return ctx.Err()
		})
		if err != nil {
			return err
		}
	}
	return nil
}
