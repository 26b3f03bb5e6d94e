package device

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/internal/sysfs"
)

// List returns the removable disks (all: every disk), sorted by name.
// Loop devices with nothing attached are never listed.
func List(all bool) ([]Disk, error) {
	ents, err := os.ReadDir(sysfs.Block)
	if err != nil {
		return nil, err
	}
	mounts := mountsByDev()
	var disks []Disk
	for _, e := range ents {
		name := e.Name()
		if sysfs.IsPartition(sysfs.Dir(name)) {
			continue
		}
		d, err := readDisk(name, mounts)
		if errors.Is(err, fs.ErrNotExist) {
			// Gone while the list was read (a loop device detached, a
			// stick pulled): it is not there to list.
			continue
		}
		if err != nil {
			return nil, err
		}
		if d.Transport == "loop" && d.BackingFile == "" {
			continue
		}
		if all || d.Removable {
			disks = append(disks, d)
		}
	}
	slices.SortFunc(disks, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return disks, nil
}

// Resolve finds the disk behind arg: a block device (/dev/sdb, /dev/sdb1,
// /dev/loop3), a name as sysfs has it ("sdb1"), a mount point, or any path
// inside a mounted file system. FUSE file systems (exfat-fuse, fusefat)
// resolve to the device their server reads. A path on a file system with
// no device under it fails with ErrNoDevice.
func Resolve(arg string) (Disk, error) {
	d, _, err := resolve(arg)
	return d, err
}

// ResolvePartition is Resolve that also says which partition arg named or
// lives on; nil when it is the whole disk.
func ResolvePartition(arg string) (Disk, *Partition, error) {
	return resolve(arg)
}

func resolve(arg string) (Disk, *Partition, error) {
	dev, err := devOf(arg)
	if err != nil {
		return Disk{}, nil, err
	}
	name, err := sysfs.Name(unix.Major(dev), unix.Minor(dev))
	if err != nil {
		return Disk{}, nil, &os.PathError{Op: "resolve", Path: arg, Err: err}
	}
	disk, err := sysfs.Disk(sysfs.Dir(name))
	if err != nil {
		return Disk{}, nil, &os.PathError{Op: "resolve", Path: arg, Err: err}
	}
	diskName := filepath.Base(disk)
	d, err := readDisk(diskName, mountsByDev())
	if err != nil {
		return Disk{}, nil, &os.PathError{Op: "resolve", Path: arg, Err: err}
	}
	for i := range d.Partitions {
		if d.Partitions[i].Name == name {
			return d, &d.Partitions[i], nil
		}
	}
	return d, nil, nil
}

// devOf turns arg into the device number of the block device it names or
// lives on.
func devOf(arg string) (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat(arg, &st)
	if err != nil && !strings.Contains(arg, "/") {
		if dev, err := sysfs.Dev(filepath.Join(sysfs.Block, arg)); err == nil {
			return dev, nil
		}
	}
	if err != nil {
		return 0, &os.PathError{Op: "stat", Path: arg, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return st.Rdev, nil
	}
	m, err := fsinfo.ForPath(arg)
	if err != nil {
		return 0, err
	}
	if dev, ok := mountDev(m); ok {
		return dev, nil
	}
	return 0, &os.PathError{Op: "resolve", Path: arg, Err: fmt.Errorf("%w: %s is %s from %q", ErrNoDevice, m.MountPoint, m.FSType, m.Source)}
}

// MountDevice names the block device under a mount, as Resolve finds it:
// its source when that is a block device (btrfs shows an anonymous device
// number in the mount table), the device a FUSE server reads, or the
// device number of the mount table.
func MountDevice(m fsinfo.Mount) (string, bool) {
	dev, ok := mountDev(m)
	if !ok {
		return "", false
	}
	name, err := sysfs.Name(unix.Major(dev), unix.Minor(dev))
	if err != nil {
		return "", false
	}
	return "/dev/" + name, true
}

func mountDev(m fsinfo.Mount) (uint64, bool) {
	if dev, ok := blockDev(m.Source); ok {
		return dev, true
	}
	if m.IsFUSE() {
		if path, ok := fsinfo.BackingDevice(m); ok {
			return blockDev(path)
		}
		return 0, false
	}
	if m.Major == 0 {
		return 0, false
	}
	dev := unix.Mkdev(m.Major, m.Minor)
	if _, err := sysfs.Name(unix.Major(dev), unix.Minor(dev)); err != nil {
		return 0, false
	}
	return dev, true
}

func blockDev(path string) (uint64, bool) {
	var st unix.Stat_t
	if !strings.HasPrefix(path, "/dev/") || unix.Stat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return 0, false
	}
	return st.Rdev, true
}

// mountsByDev maps device numbers to the mounts on them.
func mountsByDev() map[uint64][]Mount {
	ms, err := fsinfo.Mounts()
	if err != nil {
		return nil
	}
	out := map[uint64][]Mount{}
	for _, m := range ms {
		dev, ok := mountDev(m)
		if !ok {
			continue
		}
		name, _ := sysfs.Name(unix.Major(dev), unix.Minor(dev))
		out[dev] = append(out[dev], Mount{Device: "/dev/" + name, Mount: m})
	}
	return out
}

func readDisk(name string, mounts map[uint64][]Mount) (Disk, error) {
	dir := filepath.Join(sysfs.Block, name)
	sys, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Disk{}, err
	}
	devno, err := sysfs.Dev(dir)
	if err != nil {
		return Disk{}, err
	}
	d := Disk{
		Device:      sysfs.Device{Name: name, Path: "/dev/" + name, Major: unix.Major(devno), Minor: unix.Minor(devno)},
		Size:        sysfs.Int(dir, "size") * 512,
		Model:       sysfs.Str(dir, "device/model"),
		Vendor:      sysfs.Str(dir, "device/vendor"),
		Transport:   transport(name, sys),
		ReadOnly:    sysfs.Int(dir, "ro") != 0,
		Rotational:  sysfs.Int(dir, "queue/rotational") != 0,
		WriteCache:  sysfs.Str(dir, "queue/write_cache"),
		FUA:         sysfs.Int(dir, "queue/fua") != 0,
		BackingFile: sysfs.Str(dir, "loop/backing_file"),
		Mounts:      mounts[devno],
		Holders:     sysfs.Names(dir, "holders"),
		SysPath:     sys,
	}
	if d.Model == "" {
		d.Model = sysfs.Str(dir, "device/name") // mmc
	}
	if strings.HasPrefix(d.Vendor, "0x") {
		d.Vendor = "" // a PCI id (virtio), not a name
	}
	d.Serial = serial(dir, sys)
	d.Removable = sysfs.Int(dir, "removable") != 0 || d.Transport == "usb" || d.Transport == "mmc" || d.Transport == "loop"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pdir := filepath.Join(dir, e.Name())
		if !sysfs.IsPartition(pdir) {
			continue
		}
		pdev, err := sysfs.Dev(pdir)
		if err != nil {
			continue
		}
		p := Partition{
			Device:  sysfs.Device{Name: e.Name(), Path: "/dev/" + e.Name(), Major: unix.Major(pdev), Minor: unix.Minor(pdev)},
			Number:  int(sysfs.Int(pdir, "partition")),
			Size:    sysfs.Int(pdir, "size") * 512,
			Mounts:  mounts[pdev],
			Holders: sysfs.Names(pdir, "holders"),
		}
		p.FSType, p.Label, p.UUID = identify(p.Path, pdev)
		d.Partitions = append(d.Partitions, p)
	}
	slices.SortFunc(d.Partitions, func(a, b Partition) int { return a.Number - b.Number })
	// Empty lists, not nil ones, so that JSON says [] rather than null.
	d.Partitions = nonNil(d.Partitions)
	d.Mounts = nonNil(d.Mounts)
	for i := range d.Partitions {
		d.Partitions[i].Mounts = nonNil(d.Partitions[i].Mounts)
	}
	if len(d.Partitions) == 0 && d.Size > 0 {
		d.FSType, d.Label, d.UUID = identify(d.Path, devno)
	}
	return d, nil
}

// transport names the bus a disk hangs on from where sysfs puts it.
func transport(name, sys string) string {
	switch {
	case strings.HasPrefix(name, "loop"):
		return "loop"
	case strings.HasPrefix(name, "nvme"):
		return "nvme"
	case strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case strings.Contains(sys, "/usb"):
		return "usb"
	case strings.Contains(sys, "/virtio"):
		return "virtio"
	case strings.Contains(sys, "/ata"):
		return "sata"
	case strings.HasPrefix(name, "sd") || strings.HasPrefix(name, "sr"):
		return "scsi"
	}
	return ""
}

// serial looks where each kind of drive keeps it: the block device
// (virtio), the device (nvme, mmc), or the USB device above a stick.
func serial(dir, sys string) string {
	for _, f := range []string{"serial", "device/serial"} {
		if s := sysfs.Str(dir, f); s != "" {
			return s
		}
	}
	for p := sys; strings.HasPrefix(p, "/sys/devices/"); p = filepath.Dir(p) {
		if _, err := os.Stat(filepath.Join(p, "idVendor")); err == nil {
			return sysfs.Str(p, "serial")
		}
	}
	return ""
}

// Swaps lists what on d is in use as swap now, from /proc/swaps: the disk
// or a partition itself, or a swap file on a file system of it.
func (d Disk) Swaps() []string {
	devs := []uint64{unix.Mkdev(d.Major, d.Minor)}
	for _, p := range d.Partitions {
		devs = append(devs, unix.Mkdev(p.Major, p.Minor))
	}
	swaps, err := proc.Swaps()
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range swaps {
		var st unix.Stat_t
		if unix.Stat(name, &st) != nil {
			continue
		}
		dev := st.Dev
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			dev = st.Rdev
		}
		if slices.Contains(devs, dev) {
			out = append(out, name)
		}
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
