package main

import (
	"bytes"
	"testing"
)

// TestWriteLinesPhases: without a terminal, sure write prints a line a
// tenth of the image while writing and while reading back, one when a
// phase starts, and none while flushing.
func TestWriteLinesPhases(t *testing.T) {
	var out bytes.Buffer
	v := &writeLines{w: &out, next: map[string]int64{}}
	const total = 100 << 20
	d := &driveState{target: "/dev/sdx"}
	for _, n := range []int64{5 << 20, 5 << 20, 20 << 20} {
		d.onDevice += n
		v.update(d, total)
	}
	d.rate.rate = 10 << 20
	d.onDevice = total
	v.update(d, total)
	d.phase = phaseFlushing
	v.update(d, total)
	d.phase, d.rate = phaseVerifying, rateMeter{}
	v.update(d, total)
	d.verified = 50 << 20
	v.update(d, total)
	d.phase = phaseDone
	v.update(d, total)
	want := `sure: /dev/sdx: on device 10.0 MiB of 100.0 MiB (10%)
sure: /dev/sdx: on device 30.0 MiB of 100.0 MiB (30%)
sure: /dev/sdx: on device 100.0 MiB of 100.0 MiB (100%), 10.0 MiB/s, 0s left
sure: /dev/sdx: flushing the drive's cache
sure: /dev/sdx: durable; reading the image back
sure: /dev/sdx: verified 50.0 MiB of 100.0 MiB (50%)
`
	if got := out.String(); got != want {
		t.Errorf("lines:\n%s\nwant:\n%s", got, want)
	}
}

// TestWriteBarsTail: a drive's bar tells what is on the device while
// writing and what matched while reading back, with the rate while
// either moves; a stream's size is known once it has ended.
func TestWriteBarsTail(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name  string
		total int64
		d     driveState
		want  string
	}{
		{"writing", 100 * mib, driveState{phase: phaseWriting, onDevice: 25 * mib, rate: rateMeter{rate: 5 * mib}},
			"on device 25.0 MiB of 100.0 MiB (25%), 5.0 MiB/s, 15s left"},
		{"writing a stream", -1, driveState{phase: phaseWriting, onDevice: 25 * mib, rate: rateMeter{rate: 5 * mib}},
			"on device 25.0 MiB (size unknown until the image ends), 5.0 MiB/s"},
		{"flushing", 100 * mib, driveState{phase: phaseFlushing, onDevice: 100 * mib, rate: rateMeter{rate: 5 * mib}},
			"on device 100.0 MiB of 100.0 MiB (100%)"},
		{"flushing a stream", -1, driveState{phase: phaseFlushing, onDevice: 40 * mib},
			"on device 40.0 MiB of 40.0 MiB (100%)"},
		{"verifying", 100 * mib, driveState{phase: phaseVerifying, onDevice: 100 * mib, verified: 10 * mib, rate: rateMeter{rate: 45 * mib}},
			"verified 10.0 MiB of 100.0 MiB (10%), 45.0 MiB/s, 2s left"},
		{"done verified", 100 * mib, driveState{phase: phaseDone, onDevice: 100 * mib, verified: 100 * mib, rate: rateMeter{rate: 45 * mib}},
			"verified 100.0 MiB of 100.0 MiB (100%)"},
		{"done unverified", 100 * mib, driveState{phase: phaseDone, onDevice: 100 * mib},
			"on device 100.0 MiB of 100.0 MiB (100%)"},
	} {
		v := &writeBars{state: map[string]driveState{"/dev/sdx": c.d}, total: c.total}
		if got := v.tail("/dev/sdx"); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
