package fsinfo

import (
	"runtime"
	"strings"
	"time"
)

// Kind is the format on the media, the way the rest of sure judges it:
// KindFAT, KindExFAT, KindNTFS, or the kernel's type name for the others.
// Who serves the mount (the kernel or a FUSE server) does not change it.
type Kind string

// The formats whose limits sure knows by name.
const (
	KindFAT   Kind = "vfat"
	KindExFAT Kind = "exfat"
	KindNTFS  Kind = "ntfs"
)

// Format is what the on-disk format can hold, whoever serves it: what
// preflight judges names and sizes against and how coarse a kept time is.
type Format struct {
	Name string // as users know it: "FAT", "exFAT", "ext4"
	// WindowsNames: Windows' name rules hold (no "*:<>?\|/, no control
	// characters, no reserved device names, no trailing dot or space),
	// and names are stored in UTF-16, at most MaxNameUTF16 units long.
	WindowsNames bool
	MaxNameUTF16 int
	// FoldsCase: two names differing only in case are one file.
	FoldsCase bool
	// MaxFileSize is the largest regular file it holds, 0 if no limit
	// matters for a stick; TooLarge says so in words.
	MaxFileSize int64
	TooLarge    string
	// TimeGranularity lists how a kept modification time may have been
	// cut on the media, by any driver that wrote it.
	TimeGranularity []time.Duration
}

// Caps is what a mounted file system can do and promise: its format, and
// what its driver does with flushes, holes, times and renames.
type Caps struct {
	Kind Kind
	Format
	// FUSE: a user-space server implements it (see Mount.IsFUSE).
	FUSE bool
	// ChangeTimes: a file's change time tells whether it was written since
	// it was last seen. FAT and exFAT keep none on the media, and FUSE
	// servers make them up.
	ChangeTimes bool
	// Holes: skipping the source's holes leaves the copy sparse. Elsewhere
	// zeros are written as data, which the file system would write anyway.
	Holes bool
	// MayClone: a clone of the source's extents is worth trying; FUSE
	// passes no clone to its server.
	MayClone bool
	// SyncEachWindow: sync_file_range does not reach the device (the
	// kernel sends a FUSE server nothing; ZFS ignores it), so each window
	// of a big file is flushed with fdatasync instead.
	SyncEachWindow bool
	// SyncFSNoFlush says why one syncfs(2) here, though it writes every
	// file and reports the errors, is not a flush of the drive's cache; ""
	// when it is. It decides BarrierSyncFSFlush.
	SyncFSNoFlush string
	// NoFsync: the FUSE server implements no fsync, so the kernel answers
	// every fsync with success and only a flush of the block device under
	// it reaches the media.
	NoFsync bool
	// FsyncReachesDevice: every fsync and fsyncdir reaches the media
	// without sure flushing the device itself (the server fsyncs its
	// device on each one).
	FsyncReachesDevice bool
	// FsyncFlushesAll: every fsync and fsyncdir, whatever it names, makes
	// durable every write the server was handed, not only the file's
	// (exfat-fuse writes all its dirty metadata, then fsyncs its whole
	// device): one fsync is the barrier of a batch.
	FsyncFlushesAll bool
	// ReportsOnlyAtEnd: a file is known durable only once the job that
	// wrote it has written everything and made it durable, because later
	// metadata writes, half applied at a power cut, can take an already
	// flushed file with them.
	ReportsOnlyAtEnd bool
	// LosesRenamedDirs: renaming a directory loses its contents, so a
	// directory is moved file by file, through the commit protocol.
	LosesRenamedDirs bool
	// RenameResetsTimes: renaming a file stamps it with the current
	// time, so times kept on a temporary file are set again on its final
	// name after the rename.
	RenameResetsTimes bool
	// OwnBDI: a block file system whose writeback runs on a backing
	// device of its own, not on its disk's (btrfs).
	OwnBDI bool
	// Network: its data lives on a server, which a flush reaches though
	// no block device is under the mount.
	Network bool
	// InRAM: no drive holds it: the kernel makes its files up (proc,
	// sysfs, ...) or keeps them in memory (tmpfs, ramfs). Nothing there
	// can be pulled, and flushing cannot help.
	InRAM bool
	// RewritesReopened: a write at the end of a file opened again rewrites
	// the whole file, so a half-copied file is copied again, not resumed.
	RewritesReopened bool
	// NoDurableSwap says why two directories here cannot be exchanged in
	// one durable step, which putting a tree in place at once needs; ""
	// when they can.
	NoDurableSwap string
	// CommitCoversLanded: the file system writes the commit of its
	// metadata behind a cache flush that covers every write completed
	// before it (a journal commit with PREFLUSH), and logs a file's size
	// and extents before that file's writeback counts as complete. Data
	// waited for onto the device (L1) before a rename then needs no
	// barrier of its own: one syncfs after the renames makes both
	// durable. Set only for the kinds, mount options and kernels the
	// crash lab proved it on (see orderedCommits).
	CommitCoversLanded bool
}

// windowsFormat is what FAT, exFAT and NTFS share.
func windowsFormat(name string, times ...time.Duration) Format {
	return Format{Name: name, WindowsNames: true, MaxNameUTF16: 255, FoldsCase: true, TimeGranularity: times}
}

// formats holds the formats with limits of their own; every other kind
// is a Format named after it with none.
var formats = map[Kind]Format{
	KindFAT: fat,
	// exFAT keeps times in 10 ms, though exfat-fuse keeps whole seconds.
	KindExFAT: windowsFormat("exFAT", 10*time.Millisecond, time.Second),
	KindNTFS:  windowsFormat("NTFS"),
}

// fat: FAT32 keeps a file's size in 32 bits, times in 2 seconds.
var fat = func() Format {
	f := windowsFormat("FAT", 2*time.Second)
	f.MaxFileSize, f.TooLarge = 4<<30-1, "FAT32 holds no file of 4 GiB or more"
	return f
}()

// Format returns what k can hold.
func (k Kind) Format() Format {
	if f, ok := formats[k]; ok {
		return f
	}
	return Format{Name: string(k)}
}

// driver is what a mount type's driver does, beyond its format.
type driver struct {
	kind Kind // "" when the mount type does not tell the format
	caps Caps // the driver's fields only; Kind and Format are filled in
}

// noFlushWhy: syncfs of these in-kernel drivers sends the drive no cache
// flush, measured in the VM lab (lab/vm); exfat's does only through the
// write that clears its volume-dirty flag, a side effect no barrier may
// rest on.
const (
	noFlushWhy      = "its syncfs sends the drive no cache flush"
	exfatNoFlushWhy = "its syncfs flushes the drive's cache only when it clears the volume-dirty flag"
)

// kernelFS is an in-kernel driver that keeps holes and change times.
var kernelFS = Caps{ChangeTimes: true, Holes: true, MayClone: true}

// drivers is every mount type sure knows something about. Types missing
// here are treated as kernelFS less holes, or fuseFS when served by FUSE.
var drivers = map[string]driver{
	"ext2":     {caps: kernelFS},
	"ext3":     {caps: kernelFS},
	"ext4":     {caps: kernelFS},
	"xfs":      {caps: kernelFS},
	"btrfs":    {caps: Caps{ChangeTimes: true, Holes: true, MayClone: true, OwnBDI: true}},
	"f2fs":     {caps: kernelFS},
	"tmpfs":    {caps: Caps{ChangeTimes: true, Holes: true, MayClone: true, InRAM: true}},
	"bcachefs": {caps: kernelFS},
	"zfs":      {caps: Caps{ChangeTimes: true, Holes: true, MayClone: true, SyncEachWindow: true}},

	"nfs":      {caps: network},
	"nfs4":     {caps: network},
	"cifs":     {caps: network},
	"smb3":     {caps: network},
	"9p":       {caps: network},
	"virtiofs": {caps: network},

	"vfat":  {kind: KindFAT, caps: Caps{MayClone: true, SyncFSNoFlush: noFlushWhy}},
	"msdos": {kind: KindFAT, caps: Caps{MayClone: true, SyncFSNoFlush: noFlushWhy}},
	"exfat": {kind: KindExFAT, caps: Caps{MayClone: true, SyncFSNoFlush: exfatNoFlushWhy}},
	// ntfs is the name ntfs3 also answers to.
	"ntfs":  {kind: KindNTFS, caps: Caps{MayClone: true, SyncFSNoFlush: noFlushWhy}},
	"ntfs3": {kind: KindNTFS, caps: Caps{MayClone: true, SyncFSNoFlush: noFlushWhy}},

	// fusefat implements no fsync; a write at the end of a file it opens
	// again rewrites the file (measured: 60 MiB sent to the device for
	// 1 MiB appended to a 60 MiB file, which came out twice as long); its
	// directory and FAT writes, half applied at a power cut, can drop a
	// flushed file (fsck removes it as a duplicate); its rename of a directory loses the directory's
	// contents (coreutils mv loses them too); its rename of a file stamps
	// the file with the current time (measured: a copy's kept mtime was
	// lost on its rename onto the final name).
	"fuse.fusefat": {kind: KindFAT, caps: Caps{FUSE: true, SyncEachWindow: true, NoFsync: true, ReportsOnlyAtEnd: true, LosesRenamedDirs: true, RenameResetsTimes: true, RewritesReopened: true}},
	"fuse.exfat":   {kind: KindExFAT, caps: fuseFS},
	"fuse.ntfs-3g": {kind: KindNTFS, caps: fuseFS},
	// fuseblk hides the format and the server: see CapsOf.
	"fuseblk": {caps: fuseFS},

	"ramfs": {caps: inRAM}, "proc": {caps: inRAM}, "sysfs": {caps: inRAM}, "devtmpfs": {caps: inRAM},
	"devpts": {caps: inRAM}, "cgroup": {caps: inRAM}, "cgroup2": {caps: inRAM}, "debugfs": {caps: inRAM},
	"tracefs": {caps: inRAM}, "securityfs": {caps: inRAM}, "pstore": {caps: inRAM}, "bpf": {caps: inRAM},
	"configfs": {caps: inRAM}, "fusectl": {caps: inRAM}, "mqueue": {caps: inRAM}, "hugetlbfs": {caps: inRAM},
	"efivarfs": {caps: inRAM}, "binfmt_misc": {caps: inRAM}, "nsfs": {caps: inRAM}, "rpc_pipefs": {caps: inRAM},
	"selinuxfs": {caps: inRAM}, "autofs": {caps: inRAM},
}

// inRAM is a file system of the kernel's own or kept in memory, on no
// drive.
var inRAM = Caps{ChangeTimes: true, MayClone: true, InRAM: true}

// network is a file system served over a network or by a hypervisor.
var network = Caps{ChangeTimes: true, MayClone: true, Network: true}

// fuseFS is a FUSE file system sure knows nothing more about.
var fuseFS = Caps{FUSE: true, SyncEachWindow: true}

// exfatFuse is exfat-fuse under fuseblk: on every fsync and fsyncdir it
// writes all its dirty metadata and fsyncs its device. It writes a file's
// data to the device as the kernel hands it over, which the kernel does
// before close returns.
var exfatFuse = Caps{FUSE: true, SyncEachWindow: true, FsyncReachesDevice: true, FsyncFlushesAll: true}

// capsOf is the capabilities of a mount of type fstype whose format is
// kind, served (under fuseblk) by the program server.
func capsOf(fstype string, kind Kind, server string) Caps {
	d, ok := drivers[fstype]
	c := d.caps
	switch {
	case fstype == "fuseblk" && exfatServer(server):
		c = exfatFuse
	case !ok && isFUSEType(fstype):
		c = fuseFS
	case !ok:
		c = Caps{ChangeTimes: true, MayClone: true}
	}
	c.Kind = kind
	c.Format = kind.Format()
	c.NoDurableSwap = swapRefusal(runtime.GOOS, fstype, c)
	return c
}

// swapRefusal says why, on the system goos, a file system of type fstype
// whose driver does c cannot exchange two directories in one durable
// step; "" when it can.
func swapRefusal(goos, fstype string, c Caps) string {
	const noSwap = "cannot swap two directories (no RENAME_EXCHANGE)"
	switch goos {
	case "linux":
		// Measured: exfat-fuse and fusefat answer EINVAL to
		// RENAME_EXCHANGE and RENAME_NOREPLACE alike.
		switch {
		case c.FUSE && c.LosesRenamedDirs:
			return "over FUSE " + noSwap + " and empties a renamed directory"
		case c.FUSE:
			return "over FUSE " + noSwap
		}
		switch fstype {
		case "ext4", "xfs", "btrfs", "tmpfs":
			return ""
		case "vfat", "msdos":
			return "keeps no journal: a power cut can leave a swap of two directories half done"
		case "exfat", "ntfs3", "ntfs":
			return noSwap
		}
		return "is not known to swap two directories durably"
	case "darwin":
		switch fstype {
		case "apfs", "hfs":
			return ""
		}
		return "cannot swap two directories (no RENAME_SWAP)"
	}
	return "cannot swap two directories on " + goos
}

// orderedCommits lists the file systems whose commit covers the data
// that landed before it (Caps.CommitCoversLanded), with the oldest kernel
// on which the crash lab (lab/powercut, lab/vm) found no state with a
// renamed file whose data was lost; older kernels keep two barriers.
var orderedCommits = map[string]kernelVersion{
	"ext4": {6, 18},
	"xfs":  {6, 18},
}

type kernelVersion struct{ major, minor int }

// unorderedOptions are the mount options under which the commit no
// longer follows a flush over the landed data, or which the lab did not
// run: an asynchronous ext4 commit, no barriers, another data mode, a
// log on another device.
var unorderedOptions = []string{"data=journal", "data=writeback", "journal_async_commit", "nobarrier", "barrier=0", "logdev=", "journal_dev=", "journal_path="}

// commitCoversLanded decides Caps.CommitCoversLanded for a mount of
// fstype with the file system options options, on kernel major.minor.
func commitCoversLanded(fstype, options string, major, minor int) bool {
	v, ok := orderedCommits[fstype]
	if !ok || major < v.major || major == v.major && minor < v.minor {
		return false
	}
	for _, o := range strings.Split(options, ",") {
		for _, bad := range unorderedOptions {
			if o == bad || strings.HasSuffix(bad, "=") && strings.HasPrefix(o, bad) {
				return false
			}
		}
	}
	return true
}

// knownKind is the format that fstype alone tells, "" when it does not.
func knownKind(fstype string) Kind {
	return drivers[fstype].kind
}

func isFUSEType(fstype string) bool {
	return fstype == "fuse" || fstype == "fuseblk" || strings.HasPrefix(fstype, "fuse.")
}

func exfatServer(program string) bool {
	return program == "mount.exfat-fuse" || program == "mount.exfat" || program == "exfat-fuse"
}
