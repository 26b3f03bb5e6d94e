// Package device finds the block devices under paths and the drives sure
// may write to: whole disks with their partitions, mounts, holders and the
// facts that decide what a flush reaches (removable, transport, write cache,
// FUA). On Linux it reads /sys/class/block, /proc/self/mountinfo and
// /proc/swaps; elsewhere it reports ErrUnsupported.
//
// Loop devices count as removable drives. That rule is explicit because
// the tests (and the power-cut lab) stand a loop device in for a USB stick:
// an image attached with losetup is something the user made to be written,
// never the system's own disk.
package device

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sure-tools/sure/fsinfo"
	"github.com/sure-tools/sure/internal/sysfs"
)

// ErrNoDevice means a path lives on a file system with no block device
// under it (tmpfs, proc, overlay, a network or FUSE file system whose
// server reads no device).
var ErrNoDevice = errors.New("no block device under it")

// ErrUnsupported is returned where this operating system's devices are not
// read yet.
var ErrUnsupported = errors.New("device information is read only on Linux")

// Disk is a whole block device (sda, nvme0n1, mmcblk0, loop3) as sysfs
// shows it.
type Disk struct {
	sysfs.Device
	Size      int64  `json:"size"` // bytes; 0 when no medium is present
	Model     string `json:"model,omitempty"`
	Vendor    string `json:"vendor,omitempty"`
	Serial    string `json:"serial,omitempty"`
	Transport string `json:"transport"` // "usb", "sata", "nvme", "mmc", "loop", "virtio", "scsi", ""
	// Removable: the sysfs removable flag, a USB or MMC transport, or a
	// loop device (see the package comment).
	Removable   bool   `json:"removable"`
	ReadOnly    bool   `json:"read_only"`
	Rotational  bool   `json:"rotational"`
	WriteCache  string `json:"write_cache"`            // queue/write_cache: "write back" or "write through"
	FUA         bool   `json:"fua"`                    // the drive takes Force Unit Access writes
	BackingFile string `json:"backing_file,omitempty"` // loop devices: the file behind it
	// FSType, Label and UUID describe a file system written on the whole
	// disk without a partition table (sticks formatted that way, loop
	// images); empty otherwise or when unreadable.
	FSType     string      `json:"fstype,omitempty"`
	Label      string      `json:"label,omitempty"`
	UUID       string      `json:"uuid,omitempty"`
	Partitions []Partition `json:"partitions"`
	Mounts     []Mount     `json:"mounts"`            // mounts of the whole disk itself
	Holders    []string    `json:"holders,omitempty"` // dm-*, md* holding the disk itself
	SysPath    string      `json:"sys_path"`          // /sys/devices/... of the disk
}

// Partition is one partition of a Disk.
type Partition struct {
	sysfs.Device
	Number int   `json:"number"`
	Size   int64 `json:"size"`
	// FSType, Label, UUID come from the file system's superblock (or the
	// udev database when the device cannot be read); may be empty.
	FSType  string   `json:"fstype,omitempty"`
	Label   string   `json:"label,omitempty"`
	UUID    string   `json:"uuid,omitempty"`
	Mounts  []Mount  `json:"mounts"`
	Holders []string `json:"holders,omitempty"`
}

// Mount is one mount of a disk or partition. A FUSE file system (exfat-fuse,
// fusefat) counts as a mount of the device its server reads.
type Mount struct {
	Device string `json:"device"` // the block device: "/dev/sdb1"
	fsinfo.Mount
}

// AllMounts lists the mounts of the disk and of every partition.
func (d Disk) AllMounts() []Mount {
	ms := append([]Mount(nil), d.Mounts...)
	for _, p := range d.Partitions {
		ms = append(ms, p.Mounts...)
	}
	return ms
}

// Objection says why writing a raw image onto a disk would destroy
// something in use, or is probably not what the user means.
type Objection struct {
	Reason string `json:"reason"`
	// Fatal objections are refused even with --force: the running system
	// would break under the write (it holds /, /boot, /usr, ... or active
	// swap), the kernel itself holds the device (RAID, LVM, device mapper),
	// or it cannot be written at all (read-only, no medium). The others
	// (mounted elsewhere, not removable) are refused unless --force; a
	// forced write must unmount first, as an exclusive open of a disk with a
	// mounted partition fails anyway.
	Fatal bool `json:"fatal"`
}

func (o Objection) String() string { return o.Reason }

// systemMounts are mount points whose loss takes the running system down.
var systemMounts = []string{"/", "/boot", "/boot/efi", "/efi", "/usr", "/var", "/etc", "/home", "/opt", "/srv", "/nix", "/root", "/var/log", "/var/lib"}

// Judge says why writing a raw image onto d would destroy something in use
// or is not what a user means. Empty means safe. It opens nothing for
// writing: it reads only what d already holds and /proc/swaps.
func Judge(d Disk) []Objection {
	var obj []Objection
	if d.Size == 0 {
		obj = append(obj, Objection{Reason: fmt.Sprintf("%s has no medium (size 0)", d.Path), Fatal: true})
	}
	if d.ReadOnly {
		obj = append(obj, Objection{Reason: fmt.Sprintf("%s is read-only", d.Path), Fatal: true})
	}
	for _, m := range d.AllMounts() {
		if IsSystemMount(m.MountPoint) {
			obj = append(obj, Objection{Reason: fmt.Sprintf("%s holds %s of the running system (%s, mounted from %s)", d.Path, m.MountPoint, m.FSType, m.Device), Fatal: true})
			continue
		}
		obj = append(obj, Objection{Reason: fmt.Sprintf("%s is mounted on %s (%s)", m.Device, m.MountPoint, m.FSType)})
	}
	for _, s := range d.Swaps() {
		obj = append(obj, Objection{Reason: fmt.Sprintf("%s is in use as swap (%s)", d.Path, s), Fatal: true})
	}
	holders := func(dev string, hs []string) {
		for _, h := range hs {
			obj = append(obj, Objection{Reason: fmt.Sprintf("%s is held by %s (%s)", dev, h, holderKind(h)), Fatal: true})
		}
	}
	holders(d.Path, d.Holders)
	for _, p := range d.Partitions {
		holders(p.Path, p.Holders)
	}
	if !d.Removable {
		what := "not a removable drive"
		if d.Transport != "" {
			what += " (" + d.Transport + ")"
		}
		obj = append(obj, Objection{Reason: fmt.Sprintf("%s is %s", d.Path, what)})
	}
	return obj
}

// IsSystemMount reports whether dir is a mount point whose loss takes the
// running system down.
func IsSystemMount(dir string) bool {
	dir = filepath.Clean(dir)
	for _, s := range systemMounts {
		if dir == s {
			return true
		}
	}
	return false
}

func holderKind(name string) string {
	switch {
	case strings.HasPrefix(name, "dm-"):
		return "device mapper: LVM, LUKS or multipath"
	case strings.HasPrefix(name, "md"):
		return "software RAID"
	case strings.HasPrefix(name, "bcache"):
		return "bcache"
	}
	return "another block device"
}
