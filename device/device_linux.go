package device

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/proc"
)

const sysBlock = "/sys/class/block"

// List returns the removable disks (all: every disk), sorted by name.
// Loop devices with nothing attached are never listed.
func List(all bool) ([]Disk, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, err
	}
	mounts := mountsByDev()
	var disks []Disk
	for _, e := range ents {
		name := e.Name()
		if isPartition(name) {
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
	name, err := sysName(dev)
	if err != nil {
		return Disk{}, nil, &os.PathError{Op: "resolve", Path: arg, Err: err}
	}
	diskName := name
	if isPartition(name) {
		// A partition's sysfs directory sits inside its disk's.
		real, err := filepath.EvalSymlinks(filepath.Join(sysBlock, name))
		if err != nil {
			return Disk{}, nil, &os.PathError{Op: "resolve", Path: arg, Err: err}
		}
		diskName = filepath.Base(filepath.Dir(real))
	}
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
		if dev, err := readDev(filepath.Join(sysBlock, arg)); err == nil {
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
	name, err := sysName(dev)
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
	if _, err := sysName(dev); err != nil {
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

// sysName finds the kernel's name of block device dev ("sdb1").
func sysName(dev uint64) (string, error) {
	p := fmt.Sprintf("/sys/dev/block/%d:%d", unix.Major(dev), unix.Minor(dev))
	target, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("device %d:%d is not a block device sysfs knows: %w", unix.Major(dev), unix.Minor(dev), err)
	}
	return filepath.Base(target), nil
}

func isPartition(name string) bool {
	_, err := os.Stat(filepath.Join(sysBlock, name, "partition"))
	return err == nil
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
		name, _ := sysName(dev)
		out[dev] = append(out[dev], Mount{Device: "/dev/" + name, MountPoint: m.MountPoint, FSType: m.FSType, Options: m.Options})
	}
	return out
}

func readDisk(name string, mounts map[uint64][]Mount) (Disk, error) {
	dir := filepath.Join(sysBlock, name)
	sys, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Disk{}, err
	}
	devno, err := readDev(dir)
	if err != nil {
		return Disk{}, err
	}
	d := Disk{
		Name:        name,
		Path:        "/dev/" + name,
		Major:       unix.Major(devno),
		Minor:       unix.Minor(devno),
		Size:        readInt(dir, "size") * 512,
		Model:       readStr(dir, "device/model"),
		Vendor:      readStr(dir, "device/vendor"),
		Transport:   transport(name, sys),
		ReadOnly:    readInt(dir, "ro") != 0,
		Rotational:  readInt(dir, "queue/rotational") != 0,
		WriteCache:  readStr(dir, "queue/write_cache"),
		FUA:         readInt(dir, "queue/fua") != 0,
		BackingFile: readStr(dir, "loop/backing_file"),
		Mounts:      mounts[devno],
		Holders:     readNames(dir, "holders"),
		SysPath:     sys,
	}
	if d.Model == "" {
		d.Model = readStr(dir, "device/name") // mmc
	}
	if strings.HasPrefix(d.Vendor, "0x") {
		d.Vendor = "" // a PCI id (virtio), not a name
	}
	d.Serial = serial(dir, sys)
	d.Removable = readInt(dir, "removable") != 0 || d.Transport == "usb" || d.Transport == "mmc" || d.Transport == "loop"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		pdir := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(pdir, "partition")); err != nil {
			continue
		}
		pdev, err := readDev(pdir)
		if err != nil {
			continue
		}
		p := Partition{
			Name:    e.Name(),
			Path:    "/dev/" + e.Name(),
			Major:   unix.Major(pdev),
			Minor:   unix.Minor(pdev),
			Number:  int(readInt(pdir, "partition")),
			Size:    readInt(pdir, "size") * 512,
			Mounts:  mounts[pdev],
			Holders: readNames(pdir, "holders"),
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
		if s := readStr(dir, f); s != "" {
			return s
		}
	}
	for p := sys; strings.HasPrefix(p, "/sys/devices/"); p = filepath.Dir(p) {
		if _, err := os.Stat(filepath.Join(p, "idVendor")); err == nil {
			return readStr(p, "serial")
		}
	}
	return ""
}

func readDev(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "dev"))
	if err != nil {
		return 0, err
	}
	var ma, mi uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &ma, &mi); err != nil {
		return 0, &os.PathError{Op: "parse", Path: filepath.Join(dir, "dev"), Err: err}
	}
	return unix.Mkdev(ma, mi), nil
}

func readStr(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(dir, name string) int64 {
	n, _ := strconv.ParseInt(readStr(dir, name), 10, 64)
	return n
}

func readNames(dir, sub string) []string {
	ents, _ := os.ReadDir(filepath.Join(dir, sub))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
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
