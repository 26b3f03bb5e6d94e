package device

import (
	"encoding/json"
	"testing"

	"github.com/sure-tools/sure/internal/proc"
	"github.com/sure-tools/sure/pagecache"
)

// TestJSONNames pins the field names sure devices --json and sure doctor
// --json print for disks, partitions, mounts, bdis and the system's dirty
// memory, and FUSE servers: scripts read them.
func TestJSONNames(t *testing.T) {
	mount := Mount{Device: "/dev/sdb1"}
	mount.MountPoint, mount.FSType, mount.Options = "/media/stick", "vfat", "rw"
	d := Disk{
		Size: 1, Model: "m", Vendor: "v", Serial: "s", Transport: "usb", Removable: true, ReadOnly: true,
		Rotational: true, WriteCache: "write back", FUA: true, BackingFile: "/img", FSType: "vfat", Label: "L", UUID: "U",
		Partitions: []Partition{{Number: 1, Size: 2, FSType: "vfat", Label: "L", UUID: "U", Mounts: []Mount{mount}, Holders: []string{"dm-0"}}},
		Mounts:     []Mount{}, Holders: []string{"dm-1"}, SysPath: "/sys/devices/x",
	}
	d.Name, d.Path, d.Major, d.Minor = "sdb", "/dev/sdb", 8, 16
	p := &d.Partitions[0]
	p.Name, p.Path, p.Major, p.Minor = "sdb1", "/dev/sdb1", 8, 17
	b := pagecache.BDI{ID: "8:16", StrictLimit: true, MaxRatio: 100, MinRatio: 1, MaxBytes: 2, MinBytes: 1, HasBytes: true,
		ReadAheadKB: 128, StableWrites: true, Stats: map[string]int64{"BdiWriteback": 0}}
	for _, c := range []struct {
		v    any
		want string
	}{
		{d, `{"name":"sdb","path":"/dev/sdb","major":8,"minor":16,"size":1,"model":"m","vendor":"v","serial":"s",` +
			`"transport":"usb","removable":true,"read_only":true,"rotational":true,"write_cache":"write back","fua":true,` +
			`"backing_file":"/img","fstype":"vfat","label":"L","uuid":"U","partitions":[{"name":"sdb1","path":"/dev/sdb1",` +
			`"major":8,"minor":17,"number":1,"size":2,"fstype":"vfat","label":"L","uuid":"U","mounts":[{"device":"/dev/sdb1",` +
			`"mount_point":"/media/stick","fstype":"vfat","options":"rw"}],"holders":["dm-0"]}],"mounts":[],"holders":["dm-1"],` +
			`"sys_path":"/sys/devices/x"}`},
		{b, `{"id":"8:16","strict_limit":true,"max_ratio":100,"min_ratio":1,"max_bytes":2,"min_bytes":1,"has_bytes":true,` +
			`"read_ahead_kb":128,"stable_writes":true,"debugfs_stats":{"BdiWriteback":0}}`},
		{pagecache.System{Dirty: 1, Writeback: 2}, `{"dirty":1,"writeback":2}`},
		{proc.Process{PID: 7, Args: []string{"fusefat", "/dev/loop0"}}, `{"pid":7,"command":["fusefat","/dev/loop0"]}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("%T in JSON:\n%s, %v\nwant\n%s", c.v, got, err, c.want)
		}
	}
}
