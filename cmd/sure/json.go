package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonStream writes --json events to stdout, one JSON object per line, in
// the order they happened (docs/json.md is the schema). Each line is
// written with one Write so a reader never sees half an event.
type jsonStream struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newJSONStream(w io.Writer) *jsonStream {
	return &jsonStream{w: w, now: time.Now}
}

// emit writes {"event": name, "time": ..., fields...}. fields is a struct
// whose JSON form is an object; its keys follow event and time.
func (j *jsonStream) emit(name string, fields any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var b bytes.Buffer
	b.WriteString(`{"event":`)
	ev, _ := json.Marshal(name)
	b.Write(ev)
	b.WriteString(`,"time":`)
	ts, _ := json.Marshal(j.now().UTC().Format(time.RFC3339Nano))
	b.Write(ts)
	if fields != nil {
		f, err := json.Marshal(fields)
		if err == nil && len(f) > 2 {
			b.WriteByte(',')
			b.Write(f[1 : len(f)-1])
		}
	}
	b.WriteString("}\n")
	j.w.Write(b.Bytes())
}

// The events' fields. Paths are as the user gave them, joined with the
// names found below them, like -v's lines. JSON text holds only UTF-8,
// so a path that is not valid UTF-8 comes with its bytes in base64 too
// (the field's name with _b64), by which a reader finds the file.

// raw64 is the base64 of a path's bytes when JSON text cannot hold them,
// else "" (the field is then left out).
func raw64(path string) string {
	if utf8.ValidString(path) {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(path))
}

// raw64s is raw64 of every path when some path needs it, else nil.
func raw64s(paths []string) []string {
	for _, p := range paths {
		if !utf8.ValidString(p) {
			out := make([]string, len(paths))
			for i, p := range paths {
				out[i] = base64.StdEncoding.EncodeToString([]byte(p))
			}
			return out
		}
	}
	return nil
}

type jsonStarted struct {
	Command    string   `json:"command"`
	Sources    []string `json:"sources"`
	SourcesB64 []string `json:"sources_b64,omitempty"`
	Dest       string   `json:"dest"`
	DestB64    string   `json:"dest_b64,omitempty"`
	// Files and Bytes: the regular files and bytes the job plans to copy,
	// absent when the copier did not count them before starting.
	Files  *int   `json:"files,omitempty"`
	Bytes  *int64 `json:"bytes,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

type jsonCopying struct {
	Src    string `json:"src"`
	SrcB64 string `json:"src_b64,omitempty"`
	Dst    string `json:"dst"`
	DstB64 string `json:"dst_b64,omitempty"`
	Size   int64  `json:"size"`
}

type jsonOnDevice struct {
	Path          string `json:"path"`
	PathB64       string `json:"path_b64,omitempty"`
	Bytes         int64  `json:"bytes"`           // more bytes of path now on the device
	FileOnDevice  int64  `json:"file_on_device"`  // bytes of path on the device so far
	TotalOnDevice int64  `json:"total_on_device"` // bytes of the whole job on the device so far
}

type jsonFlushing struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

type jsonFile struct {
	Src    string `json:"src"`
	SrcB64 string `json:"src_b64,omitempty"`
	Dst    string `json:"dst"`
	DstB64 string `json:"dst_b64,omitempty"`
	Bytes  int64  `json:"bytes"`
}

type jsonSkipped struct {
	Src    string `json:"src"`
	SrcB64 string `json:"src_b64,omitempty"`
	Dst    string `json:"dst"`
	DstB64 string `json:"dst_b64,omitempty"`
	Reason string `json:"reason"`
}

type jsonError struct {
	Src    string `json:"src,omitempty"`
	SrcB64 string `json:"src_b64,omitempty"`
	Dst    string `json:"dst,omitempty"`
	DstB64 string `json:"dst_b64,omitempty"`
	Error  string `json:"error"`
}

type jsonFinished struct {
	// Level is the guarantee every file counted in Files reached:
	// "verified", "durable", or "none" when no file reached durable.
	Level       string `json:"level"`
	Files       int    `json:"files"`
	Bytes       int64  `json:"bytes"`
	Failed      int    `json:"failed"`
	Skipped     int    `json:"skipped"`
	UpToDate    int    `json:"up_to_date"`
	Verified    int    `json:"verified"`
	Mismatched  int    `json:"mismatched"`
	Interrupted bool   `json:"interrupted"`
	// Stopped says why the job stopped on its own before trying every
	// file: the destination could no longer be written.
	Stopped      string `json:"stopped,omitempty"`
	ExitCode     int    `json:"exit_code"`
	DestMount    string `json:"dest_mount,omitempty"`
	DestMountB64 string `json:"dest_mount_b64,omitempty"`
	FSType       string `json:"fs_type,omitempty"`
	Barrier      string `json:"barrier,omitempty"`
	// A dry run's: what would be done.
	DryRun     bool  `json:"dry_run,omitempty"`
	Would      int   `json:"would,omitempty"`
	WouldBytes int64 `json:"would_bytes,omitempty"`
	// Filters and --delete.
	Excluded int `json:"excluded,omitempty"`
	Removed  int `json:"removed,omitempty"`
}
