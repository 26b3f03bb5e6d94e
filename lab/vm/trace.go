//go:build linux

package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The kernel's block tracepoints show the order in which requests reach
// the drive and complete: a write is covered only by a FLUSH issued after
// the write completed. They are switched on and off synchronously, unlike
// blktrace, whose start has no completion to wait for.
const tracefs = "/sys/kernel/debug/tracing"

// TraceOn is a guest shell snippet (run as root) that clears the trace
// buffer and starts recording block requests being issued and completed.
const TraceOn = "echo 0 > " + tracefs + "/tracing_on; echo > " + tracefs + "/trace; " +
	"echo 65536 > " + tracefs + "/buffer_size_kb; " +
	"echo 1 > " + tracefs + "/events/block/block_rq_issue/enable; " +
	"echo 1 > " + tracefs + "/events/block/block_rq_complete/enable; " +
	"echo 1 > " + tracefs + "/tracing_on\n"

// TraceOff stops recording and prints the trace.
const TraceOff = "echo 0 > " + tracefs + "/tracing_on; echo 0 > " + tracefs + "/events/block/enable; " +
	"grep -E 'block_rq_(issue|complete):' " + tracefs + "/trace || true\n"

// BlockEvent is one request of a disk, issued to it or completed by it.
type BlockEvent struct {
	Complete bool   // completed, else issued
	Dev      string // major,minor
	RWBS     string // FF for a flush, W... for a write
	Sector   int64
	Sectors  int64
}

// Flush reports a cache flush request.
func (e BlockEvent) Flush() bool { return strings.HasPrefix(e.RWBS, "FF") }

// Write reports a write carrying data.
func (e BlockEvent) Write() bool { return strings.Contains(e.RWBS, "W") && e.Sectors > 0 }

func (e BlockEvent) String() string {
	k := "issue"
	if e.Complete {
		k = "complete"
	}
	return fmt.Sprintf("%s %s %d+%d", k, e.RWBS, e.Sector, e.Sectors)
}

// ParseTrace picks the events of disk dev ("8,0" for sda) out of a trace.
func ParseTrace(out, dev string) ([]BlockEvent, error) {
	var evs []BlockEvent
	for _, line := range strings.Split(out, "\n") {
		var e BlockEvent
		var rest string
		if i := strings.Index(line, "block_rq_issue: "); i >= 0 {
			rest = line[i+len("block_rq_issue: "):]
		} else if i := strings.Index(line, "block_rq_complete: "); i >= 0 {
			rest = line[i+len("block_rq_complete: "):]
			e.Complete = true
		} else {
			continue
		}
		f := strings.Fields(rest)
		plus := -1
		for i, x := range f {
			if x == "+" {
				plus = i
				break
			}
		}
		if len(f) < 2 || plus < 1 || plus+1 >= len(f) {
			return nil, fmt.Errorf("vm: trace line %q", line)
		}
		e.Dev, e.RWBS = f[0], f[1]
		if e.Dev != dev {
			continue
		}
		e.Sector, _ = strconv.ParseInt(f[plus-1], 10, 64) // a flush's is -1
		n, err := strconv.ParseInt(f[plus+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("vm: trace line %q: %w", line, err)
		}
		e.Sectors = n
		evs = append(evs, e)
	}
	return evs, nil
}

// Covered reports whether every write that completed in evs is followed
// by a FLUSH issued after its completion and completed: what a barrier
// must achieve for the writes it covers. It also returns how many writes
// and FLUSH requests completed.
func Covered(evs []BlockEvent) (ok bool, writes, flushes int) {
	lastWrite := -1
	for i, e := range evs {
		if e.Complete && e.Write() {
			lastWrite = i
			writes++
		}
		if e.Complete && e.Flush() {
			flushes++
		}
	}
	issued := false
	for _, e := range evs[lastWrite+1:] {
		if !e.Complete && e.Flush() {
			issued = true
		}
		if issued && e.Complete && e.Flush() {
			return true, writes, flushes
		}
	}
	return false, writes, flushes
}

// Trace calls run (which runs a job in the guest, as any user) with block
// tracing on and returns its result and disk dev's events.
func (v *VM) Trace(ctx context.Context, dev string, run func() (Result, error)) (Result, []BlockEvent, error) {
	if _, err := v.MustRun(ctx, TraceOn); err != nil {
		return Result{}, nil, err
	}
	r, err := run()
	if err != nil {
		return r, nil, err
	}
	out, err := v.MustRun(ctx, TraceOff)
	if err != nil {
		return r, nil, err
	}
	evs, err := ParseTrace(out, dev)
	return r, evs, err
}
