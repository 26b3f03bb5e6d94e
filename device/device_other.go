//go:build !linux

package device

import "github.com/sure-tools/sure/fsinfo"

// List is Linux-only for now: other systems keep no sysfs to read.
func List(all bool) ([]Disk, error) { return nil, ErrUnsupported }

// Resolve is Linux-only for now: other systems keep no sysfs to read.
func Resolve(arg string) (Disk, error) { return Disk{}, ErrUnsupported }

// ResolvePartition is Linux-only for now: other systems keep no sysfs to read.
func ResolvePartition(arg string) (Disk, *Partition, error) { return Disk{}, nil, ErrUnsupported }

// MountDevice is Linux-only for now: other systems keep no mount table here.
func MountDevice(m fsinfo.Mount) (string, bool) { return "", false }

// Swaps is empty outside Linux: /proc/swaps is where it is read.
func (d Disk) Swaps() []string { return nil }

// Trace is Linux-only for now: other systems keep no sysfs to read.
func Trace(path string) (Chain, error) { return Chain{}, ErrUnsupported }
