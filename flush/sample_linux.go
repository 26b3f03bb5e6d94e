package flush

import (
	"fmt"
	"strings"
	"time"

	"github.com/sure-tools/sure/drivecache"
	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/pagecache"
)

// sampler measures a running flush: the pending bytes of the mount's
// backing devices (debugfs bdi statistics) or, without debugfs, of the
// whole system (/proc/meminfo), and the drive's write rate from its own
// sector counter, which counts what really reached the drive.
type sampler struct {
	m     fsinfo.Mount
	bdis  []string
	disk  drivecache.Disk
	hasD  bool
	start time.Time
	last  time.Time
	lastS uint64
	rate  float64
}

func newSampler(m fsinfo.Mount) *sampler {
	s := &sampler{m: m, bdis: pagecache.BDINames(m), start: time.Now()}
	if d, err := drivecache.DiskFor(m); err == nil {
		if c, err := drivecache.Read(d); err == nil {
			s.disk, s.hasD, s.last, s.lastS = d, true, time.Now(), c.WriteSectors
		}
	}
	return s
}

func (s *sampler) sample() (Sample, bool) {
	smp := Sample{Mount: s.m, Elapsed: time.Since(s.start)}
	got := false
	if len(s.bdis) > 0 {
		var names []string
		for _, n := range s.bdis {
			b, err := pagecache.BDIStats(n)
			if err != nil {
				got = false
				break
			}
			smp.Dirty += b.Dirty()
			smp.Writeback += b.Writeback()
			names = append(names, n)
			got = true
		}
		if got {
			smp.Scope = fmt.Sprintf("bdi %s, approximate", strings.Join(names, ", "))
		}
	}
	if !got {
		sys, err := pagecache.Meminfo()
		if err != nil {
			return smp, false
		}
		smp.Dirty, smp.Writeback = sys.Dirty, sys.Writeback
		smp.Scope = "whole system (/proc/meminfo)"
	}
	if s.hasD {
		if c, err := drivecache.Read(s.disk); err == nil {
			now := time.Now()
			if dt := now.Sub(s.last).Seconds(); dt > 0 {
				r := float64(c.WriteSectors-s.lastS) * 512 / dt
				// A moving average: one slow second must not swing the ETA.
				if s.rate == 0 {
					s.rate = r
				} else {
					s.rate = 0.7*s.rate + 0.3*r
				}
				smp.Rate = s.rate
			}
			s.last, s.lastS = now, c.WriteSectors
		}
	}
	return smp, true
}
