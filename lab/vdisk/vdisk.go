//go:build linux

// Package vdisk is a virtual removable disk with a volatile write cache: a
// FUSE file system, served by a separate process, that exposes one file,
// disk.img. A loop device on disk.img carries a real file system.
//
// The loop driver turns every block-layer FLUSH into fsync(disk.img), which
// arrives here as FUSE_FSYNC; that is the only barrier. Between barriers
// the server keeps the ordered log of writes (the open epoch). A power cut
// leaves the durable image plus a prefix or any subset of the epoch,
// optionally with one write torn at a 512-byte boundary. Faults (EIO on the
// n-th write or flush, bit flips, fake capacity) and limits (bandwidth,
// flush latency) are set through a control socket.
//
// The server runs in its own process so that a test doing I/O on the stick
// never waits on a FUSE request its own process must answer, and so that a
// yanked or killed disk cannot take the caller down with it.
package vdisk

import (
	"time"
)

// Cut modes: which writes of the open epoch a power cut keeps.
const (
	CutPrefix = "prefix" // the first k writes, k uniform in [0, n]: an in-order cache
	CutSubset = "subset" // each write independently: a reordering cache
	CutNone   = "none"   // only what the last flush made durable
	CutAll    = "all"    // everything received, as if the cache were flushed
)

// Faults are the misbehaviours armed on a disk. Counts start when the
// faults are set. The zero value is a healthy disk.
type Faults struct {
	FailWrite     int64         `json:"fail_write,omitempty"`     // the n-th write fails with EIO (once)
	FailFlush     int64         `json:"fail_flush,omitempty"`     // the n-th flush fails with EIO (once); the epoch stays open
	FlipEvery     int64         `json:"flip_every,omitempty"`     // every n-th write is stored with one bit flipped, silently
	Capacity      int64         `json:"capacity,omitempty"`       // fake capacity: bytes actually stored; higher offsets wrap to the start
	BandwidthMBps float64       `json:"bandwidth_mbps,omitempty"` // write bandwidth limit in MB/s
	FlushLatency  time.Duration `json:"flush_latency,omitempty"`  // time each flush takes
}

// Stats are the disk's figures.
type Stats struct {
	BytesReceived int64 `json:"bytes_received"` // bytes of all writes accepted
	BytesDurable  int64 `json:"bytes_durable"`  // bytes of writes made durable by a flush
	Writes        int64 `json:"writes"`
	Zeroes        int64 `json:"zeroes"` // discards and write-zeroes (FALLOCATE)
	Reads         int64 `json:"reads"`
	Flushes       int64 `json:"flushes"` // FUSE_FSYNC requests, failed ones included
	FailedWrites  int64 `json:"failed_writes"`
	FailedFlushes int64 `json:"failed_flushes"`
	BitFlips      int64 `json:"bit_flips"`
	EpochWrites   int64 `json:"epoch_writes"` // writes and zeroes since the last good flush
	EpochBytes    int64 `json:"epoch_bytes"`
	Yanked        bool  `json:"yanked"`
	// Seq is the number of events recorded so far (see RecordOptions), 0
	// when no recording was ever started.
	Seq int64 `json:"seq,omitempty"`
}

// CutOptions say how a power cut resolves the open epoch.
type CutOptions struct {
	Out  string `json:"out"`  // file to write the crash image to
	Mode string `json:"mode"` // CutPrefix (default), CutSubset, CutNone, CutAll
	Seed uint64 `json:"seed"` // picks the prefix/subset and the tear; same seed, same epoch, same image
	Tear bool   `json:"tear"` // also apply part of one lost write, cut at a 512-byte boundary
	Yank bool   `json:"yank"` // fail every later I/O with EIO
}

// CutResult describes the crash image.
type CutResult struct {
	EpochWrites int   `json:"epoch_writes"` // writes and zeroes in the open epoch at the cut
	Kept        int   `json:"kept"`         // of them, applied to the crash image (a torn one included)
	TornWrite   int   `json:"torn_write"`   // index in the epoch of the torn write, -1 if none
	TornBytes   int64 `json:"torn_bytes"`   // bytes of it that reached the image
}

// Config describes a disk to serve.
type Config struct {
	Dir    string `json:"dir"`    // state directory: mnt/disk.img, ctl.sock, cur.img, durable.img
	Size   int64  `json:"size"`   // bytes
	Seed   uint64 `json:"seed"`   // for bit flips
	Faults Faults `json:"faults"` // armed from the start
	// DirectIO makes the kernel send every read of disk.img to the server
	// instead of keeping its pages cached. On by default (see Start).
	NoDirectIO bool `json:"no_direct_io,omitempty"`
	// Source, when set, is a directory on another file system that the
	// server also shows at Dir/source, recording its removals (RecRemove)
	// with the disk's events: the source of a move.
	Source string `json:"source,omitempty"`
}

// Paths of a disk's state directory.
func mountDir(dir string) string { return dir + "/mnt" }
func sockPath(dir string) string { return dir + "/ctl.sock" }

// ImageName is the name of the only file of the vdisk mount.
const ImageName = "disk.img"
