// Package drivecache answers whether data may still sit in a drive's
// volatile write cache: written to the drive (level L1) but not yet flushed
// to the media (L2). The kernel cannot see inside the drive, so the answer
// comes from the drive's I/O counters (/sys/block/X/stat: sectors written,
// flushes completed) compared with a record that sure makes right after a
// flush it knows succeeded. No record, or a write completed since, means
// "may still be in the drive's cache".
//
// The record is kept for the running boot only (/run/sure, or
// $XDG_RUNTIME_DIR/sure for other users), keyed by the disk's device
// number and its diskseq, which changes whenever another medium or image
// takes the same device number.
package drivecache

import (
	"errors"
	"time"

	"github.com/sure-tools/sure/internal/sysfs"
)

// Disk is a whole block device whose counters tell the story.
type Disk struct {
	sysfs.Device
	DiskSeq string // "" on kernels before 5.15
	// WriteThrough: the drive says it has no volatile cache
	// (queue/write_cache), so a completed write is on the media.
	WriteThrough bool
}

// Counters are the drive's cumulative I/O counts since it appeared.
type Counters struct {
	Writes       uint64 // write requests completed, empty cache flushes included
	WriteSectors uint64 // what tells data was written
	Flushes      uint64 // cache flushes completed (Linux 5.5 and newer)
	HasFlushes   bool
}

// Record says that every write the drive had completed when it was made
// has been flushed to the media.
type Record struct {
	BootID       string    `json:"boot_id"`
	DiskSeq      string    `json:"diskseq"`
	Writes       uint64    `json:"writes"`
	WriteSectors uint64    `json:"write_sectors"`
	Flushes      uint64    `json:"flushes"`
	Start        time.Time `json:"start"` // when the flush that led to it started
	Made         time.Time `json:"made"`
}

// State is the answer for one disk.
type State int

const (
	// Unknown: no record of a flush by sure on this disk in this boot (or
	// it belongs to another medium), so nothing can be said.
	Unknown State = iota
	// WrittenSince: the drive completed writes after the last recorded
	// flush; they may be in its volatile cache only.
	WrittenSince
	// Flushed: nothing was written to the drive since a flush recorded
	// by sure.
	Flushed
)

// ErrNotRecorded means the drive completed a write while the record was
// being made, so no record was made; a later flush may succeed at it.
var ErrNotRecorded = errors.New("the drive was written to during the flush; no record made")

// ErrUnsupported is returned where drive counters are not read (not Linux).
var ErrUnsupported = errors.New("drive counters are read only on Linux")
