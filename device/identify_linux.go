package device

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/blkid"
)

// identify names the file system on a block device: from its superblock
// when this process may read the device, else from what udev recorded
// (readable without root, but only where udev runs). A device that reads
// blank is blank: udev's record may describe an earlier device of that
// number, left behind when udevd stopped.
func identify(path string, dev uint64) (fstype, label, uuid string) {
	if f, err := os.OpenFile(path, os.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		fstype, label, uuid = blkid.Probe(f)
		f.Close()
		if fstype != "" && label == "" {
			// Probe reads no NTFS label (it lives in an MFT record);
			// udev's blkid does, and a user who may not open the
			// device sees it there, so root should too. The same
			// serial proves udev's entry is about this volume.
			if t, l, u := fromUdev(dev); t == fstype && strings.EqualFold(u, uuid) {
				label = l
			}
		}
		// A device that reads blank is blank: udev's record may
		// describe an earlier device of that number.
		return fstype, label, uuid
	}
	return fromUdev(dev)
}

// fromUdev reads what udev's blkid found on the device from its database.
func fromUdev(dev uint64) (fstype, label, uuid string) {
	f, err := os.Open(fmt.Sprintf("/run/udev/data/b%d:%d", unix.Major(dev), unix.Minor(dev)))
	if err != nil {
		return "", "", ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line, isEnv := strings.CutPrefix(s.Text(), "E:")
		k, v, ok := strings.Cut(line, "=")
		if !isEnv || !ok {
			continue
		}
		switch k {
		case "ID_FS_TYPE":
			fstype = v
		case "ID_FS_LABEL":
			label = v
		case "ID_FS_UUID":
			uuid = v
		}
	}
	return fstype, label, uuid
}
