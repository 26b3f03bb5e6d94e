//go:build linux

// The kernel threads' CPU over a run, beside the command's own (wait4):
// the flusher's writeback of what `cp` left dirty, the loop device's
// worker and the journal run in threads of their own, which no wait4
// figure includes, so the second figure adds them for every command.

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// kthreadsCPU is the CPU time the kernel's threads (the children of
// kthreadd, pid 2) have run for, summed, from /proc/PID/schedstat
// (nanoseconds). A thread that ends between two readings takes its time
// with it; kernel threads seldom do.
func kthreadsCPU() (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 2 || string(f[1]) != "2" {
			continue
		}
		ss, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			continue
		}
		if f := bytes.Fields(ss); len(f) > 0 {
			if ns, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
				sum += time.Duration(ns)
			}
		}
	}
	return sum, nil
}

// kthreadMeter measures the kernel threads' CPU over a run, less their
// own load: their CPU over an idle stretch just before the run, scaled
// to the run's length. Other users' I/O on the machine runs in the same
// threads and moves the figure by as much as it changes between the two.
type kthreadMeter struct {
	baseline time.Duration
	start    time.Duration
	began    time.Time
	rate     float64 // kernel threads' CPU seconds per second while the bench was idle
}

// begin measures the idle rate over m.baseline, then starts the meter.
func (m *kthreadMeter) begin() error {
	if m.baseline <= 0 {
		return nil
	}
	a, err := kthreadsCPU()
	if err != nil {
		return err
	}
	t0 := time.Now()
	time.Sleep(m.baseline)
	b, err := kthreadsCPU()
	if err != nil {
		return err
	}
	m.rate = (b - a).Seconds() / time.Since(t0).Seconds()
	m.start, m.began = b, time.Now()
	return nil
}

// end is the kernel threads' CPU since begin less the idle rate's share;
// 0 when no baseline was asked for.
func (m *kthreadMeter) end() (time.Duration, error) {
	if m.baseline <= 0 {
		return 0, nil
	}
	e, err := kthreadsCPU()
	if err != nil {
		return 0, err
	}
	idle := time.Duration(m.rate * float64(time.Since(m.began)))
	return e - m.start - idle, nil
}
