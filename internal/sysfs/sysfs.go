// Package sysfs reads block devices' attributes from Linux's /sys: the one
// place sure turns device numbers and /dev paths into sysfs directories,
// finds a partition's disk, and reads the kernel's I/O counters.
package sysfs

import "fmt"

// Device names a block device, a whole disk or a partition, the way the
// kernel does.
type Device struct {
	Name  string `json:"name"` // "sdb", "loop3p1"
	Path  string `json:"path"` // "/dev/sdb"
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
}

// ID is "MAJ:MIN", which names the device in /sys/dev/block and its bdi.
func (d Device) ID() string { return fmt.Sprintf("%d:%d", d.Major, d.Minor) }
