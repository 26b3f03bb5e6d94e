package fsinfo

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// flags lists a Caps' true boolean fields by short name, so that a table
// row reads as what the driver does.
func flags(c Caps) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{c.WindowsNames, "winnames"}, {c.FoldsCase, "folds"}, {c.FUSE, "fuse"},
		{c.ChangeTimes, "ctime"}, {c.Holes, "holes"}, {c.MayClone, "clone"},
		{c.SyncEachWindow, "syncwin"}, {c.SyncFSNoFlush != "", "noflush"},
		{c.NoFsync, "nofsync"}, {c.FsyncReachesDevice, "fsyncdev"},
		{c.ReportsOnlyAtEnd, "atend"}, {c.LosesRenamedDirs, "losesdirs"}, {c.OwnBDI, "ownbdi"}, {c.Network, "network"},
		{c.InRAM, "ram"}, {c.RewritesReopened, "rewrites"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	return strings.Join(f, " ")
}

// TestCaps pins what sure believes of every file system it knows by name,
// and of the unknown ones, kernel and FUSE.
func TestCaps(t *testing.T) {
	const gib4 = 4<<30 - 1
	fat := []time.Duration{2 * time.Second}
	exfat := []time.Duration{10 * time.Millisecond, time.Second}
	for _, tc := range []struct {
		fstype, server string
		kind           Kind // what the boot sector or mount type told
		name           string
		maxFile        int64
		times          []time.Duration
		flags          string
	}{
		{"ext4", "", "ext4", "ext4", 0, nil, "ctime holes clone"},
		{"ext2", "", "ext2", "ext2", 0, nil, "ctime holes clone"},
		{"xfs", "", "xfs", "xfs", 0, nil, "ctime holes clone"},
		{"btrfs", "", "btrfs", "btrfs", 0, nil, "ctime holes clone ownbdi"},
		{"f2fs", "", "f2fs", "f2fs", 0, nil, "ctime holes clone"},
		{"tmpfs", "", "tmpfs", "tmpfs", 0, nil, "ctime holes clone ram"},
		{"proc", "", "proc", "proc", 0, nil, "ctime clone ram"},
		{"bcachefs", "", "bcachefs", "bcachefs", 0, nil, "ctime holes clone"},
		{"zfs", "", "zfs", "zfs", 0, nil, "ctime holes clone syncwin"},
		{"nfs", "", "nfs", "nfs", 0, nil, "ctime clone network"},
		{"nfs4", "", "nfs4", "nfs4", 0, nil, "ctime clone network"},
		{"cifs", "", "cifs", "cifs", 0, nil, "ctime clone network"},
		{"smb3", "", "smb3", "smb3", 0, nil, "ctime clone network"},
		{"9p", "", "9p", "9p", 0, nil, "ctime clone network"},
		{"virtiofs", "", "virtiofs", "virtiofs", 0, nil, "ctime clone network"},
		{"overlay", "", "overlay", "overlay", 0, nil, "ctime clone"},
		{"vfat", "", KindFAT, "FAT", gib4, fat, "winnames folds clone noflush"},
		{"msdos", "", KindFAT, "FAT", gib4, fat, "winnames folds clone noflush"},
		{"exfat", "", KindExFAT, "exFAT", 0, exfat, "winnames folds clone noflush"},
		{"ntfs3", "", KindNTFS, "NTFS", 0, nil, "winnames folds clone noflush"},
		{"ntfs", "", KindNTFS, "NTFS", 0, nil, "winnames folds clone noflush"},
		{"fuse.fusefat", "fusefat", KindFAT, "FAT", gib4, fat, "winnames folds fuse syncwin nofsync atend losesdirs rewrites"},
		{"fuse.exfat", "", KindExFAT, "exFAT", 0, exfat, "winnames folds fuse syncwin"},
		{"fuse.ntfs-3g", "", KindNTFS, "NTFS", 0, nil, "winnames folds fuse syncwin"},
		{"fuseblk", "mount.exfat-fuse", KindExFAT, "exFAT", 0, exfat, "winnames folds fuse syncwin fsyncdev"},
		{"fuseblk", "exfat-fuse", KindExFAT, "exFAT", 0, exfat, "winnames folds fuse syncwin fsyncdev"},
		{"fuseblk", "ntfs-3g", KindNTFS, "NTFS", 0, nil, "winnames folds fuse syncwin"},
		{"fuseblk", "", "fuseblk", "fuseblk", 0, nil, "fuse syncwin"},
		{"fuse.sshfs", "", "fuse.sshfs", "fuse.sshfs", 0, nil, "fuse syncwin"},
		{"fuse", "", "fuse", "fuse", 0, nil, "fuse syncwin"},
	} {
		t.Run(fmt.Sprintf("%s,%s", tc.fstype, tc.server), func(t *testing.T) {
			c := capsOf(tc.fstype, tc.kind, tc.server)
			if c.Kind != tc.kind || c.Name != tc.name || c.MaxFileSize != tc.maxFile || !slices.Equal(c.TimeGranularity, tc.times) {
				t.Errorf("kind %q name %q max file %d times %v; want %q %q %d %v", c.Kind, c.Name, c.MaxFileSize, c.TimeGranularity, tc.kind, tc.name, tc.maxFile, tc.times)
			}
			if got := flags(c); got != tc.flags {
				t.Errorf("caps %q, want %q", got, tc.flags)
			}
			if c.WindowsNames && c.MaxNameUTF16 != 255 {
				t.Errorf("names of %d UTF-16 units, want 255", c.MaxNameUTF16)
			}
			if (c.MaxFileSize > 0) != (c.TooLarge != "") {
				t.Errorf("max file size %d, yet %q says why", c.MaxFileSize, c.TooLarge)
			}
			if c.FUSE != isFUSEType(tc.fstype) {
				t.Errorf("FUSE %v for a mount of type %s", c.FUSE, tc.fstype)
			}
			if c.FUSE && (c.Holes || c.MayClone || c.ChangeTimes || c.SyncFSNoFlush != "") {
				t.Errorf("a FUSE file system keeps holes, clones, change times or has a kernel's syncfs: %q", flags(c))
			}
		})
	}
}

// TestKnownKind: the mount types that alone tell the format on the media,
// and fuseblk, which does not.
func TestKnownKind(t *testing.T) {
	for fstype, want := range map[string]Kind{
		"vfat": KindFAT, "msdos": KindFAT, "fuse.fusefat": KindFAT,
		"exfat": KindExFAT, "fuse.exfat": KindExFAT,
		"ntfs": KindNTFS, "ntfs3": KindNTFS, "fuse.ntfs-3g": KindNTFS,
		"fuseblk": "", "ext4": "", "fuse.sshfs": "",
	} {
		if got := knownKind(fstype); got != want {
			t.Errorf("knownKind(%q) = %q, want %q", fstype, got, want)
		}
	}
}

// TestSwapRefusal is the table of file systems that can exchange two
// directories in one durable step, and the reason given where one cannot.
func TestSwapRefusal(t *testing.T) {
	for _, c := range []struct {
		goos, fsType string
		ok           bool
		why          string // part of the reason
	}{
		{"linux", "ext4", true, ""},
		{"linux", "xfs", true, ""},
		{"linux", "btrfs", true, ""},
		{"linux", "tmpfs", true, ""},
		{"linux", "fuseblk", false, "RENAME_EXCHANGE"},
		{"linux", "fuse.fusefat", false, "empties a renamed directory"},
		{"linux", "fuse.exfat", false, "over FUSE"},
		{"linux", "vfat", false, "journal"},
		{"linux", "msdos", false, "journal"},
		{"linux", "exfat", false, "no RENAME_EXCHANGE"},
		{"linux", "ntfs3", false, "no RENAME_EXCHANGE"},
		{"linux", "nfs4", false, "not known"},
		{"linux", "fuse.sshfs", false, "over FUSE"},
		{"darwin", "apfs", true, ""},
		{"darwin", "hfs", true, ""},
		{"darwin", "msdos", false, "RENAME_SWAP"},
		{"darwin", "exfat", false, "RENAME_SWAP"},
		{"windows", "NTFS", false, "windows"},
		{"freebsd", "ufs", false, "freebsd"},
	} {
		why := swapRefusal(c.goos, c.fsType, capsOf(c.fsType, "", ""))
		if (why == "") != c.ok || !strings.Contains(why, c.why) {
			t.Errorf("%s %s: %q, want ok %v and a reason with %q", c.goos, c.fsType, why, c.ok, c.why)
		}
	}
}

// TestSwapRefusalHere: Caps carries the refusal of the system it runs on.
func TestSwapRefusalHere(t *testing.T) {
	for _, fstype := range []string{"ext4", "vfat", "fuse.fusefat", "apfs", "unknown"} {
		c := capsOf(fstype, "", "")
		if want := swapRefusal(runtime.GOOS, fstype, c); c.NoDurableSwap != want {
			t.Errorf("%s: NoDurableSwap %q, want %q", fstype, c.NoDurableSwap, want)
		}
	}
}

func TestInRAM(t *testing.T) {
	for fsType, want := range map[string]bool{
		"tmpfs": true, "ramfs": true, "proc": true, "sysfs": true, "devtmpfs": true, "cgroup2": true,
		"debugfs": true, "fusectl": true, "autofs": true,
		"ext4": false, "vfat": false, "exfat": false, "fuseblk": false, "fuse.exfat": false, "btrfs": false, "": false,
	} {
		if got := capsOf(fsType, "", "").InRAM; got != want {
			t.Errorf("InRAM of %q = %v, want %v", fsType, got, want)
		}
	}
}

// TestCommitCoversLanded: one barrier for data and names only on the
// file systems, mount options and kernels the crash lab proved it on.
func TestCommitCoversLanded(t *testing.T) {
	for _, tc := range []struct {
		fstype, options string
		major, minor    int
		want            bool
	}{
		{"ext4", "rw,relatime", 6, 18, true},
		{"ext4", "rw,errors=remount-ro,data=ordered", 7, 0, true},
		{"xfs", "rw,attr2,inode64,logbufs=8,noquota", 6, 18, true},
		{"ext4", "rw", 6, 12, false},
		{"xfs", "rw", 6, 1, false},
		{"ext4", "rw,data=writeback", 6, 18, false},
		{"ext4", "rw,data=journal", 6, 18, false},
		{"ext4", "rw,journal_async_commit", 6, 18, false},
		{"ext4", "rw,nobarrier", 6, 18, false},
		{"ext4", "rw,barrier=0", 6, 18, false},
		{"xfs", "rw,logdev=/dev/sdb2", 6, 18, false},
		{"btrfs", "rw", 6, 18, false},
		{"vfat", "rw", 6, 18, false},
		{"fuseblk", "rw", 6, 18, false},
		{"ext3", "rw", 6, 18, false},
	} {
		if got := commitCoversLanded(tc.fstype, tc.options, tc.major, tc.minor); got != tc.want {
			t.Errorf("%s (%s) on %d.%d: %v, want %v", tc.fstype, tc.options, tc.major, tc.minor, got, tc.want)
		}
	}
}
