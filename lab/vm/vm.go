//go:build linux

// Package vm boots Debian's distribution kernels under qemu, so that tests
// can use the in-kernel vfat, exfat and ntfs3 drivers over a USB
// mass-storage stack, which the host kernel lacks. The guest's root is the
// host's / over 9p (read-only, with tmpfs on /tmp, /run, /var/tmp, /media,
// /mnt, /root and /home), so host tools and binaries built on the host run
// in it; a writable share carries scripts in and results out. A stick is a
// raw image file on the host behind qemu-xhci and usb-storage (or uas)
// with a write-back cache: a guest FLUSH makes qemu fdatasync the image.
package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sure-tools/sure/internal/tail"
)

// Config describes a guest.
type Config struct {
	Kernel *Kernel
	// Dir is the host directory shared writable with the guest, mounted
	// there at the same path; files put in it (test binaries, sure) run in
	// the guest under the same names; RunAs needs it (and the path to it)
	// searchable by the user. Empty: a new temporary directory.
	Dir string
	// Stick, when set, is a raw image attached at boot as the guest's sda.
	Stick *Stick
	CPUs  int // 2 when 0
	MemMB int // 2048 when 0
	// BootTimeout bounds the wait for the guest's init (and its stick);
	// 5 minutes when 0, which TCG on a loaded 2-core machine stays far
	// within.
	BootTimeout time.Duration
}

// Stick is a USB stick backed by a raw image file on the host.
type Stick struct {
	Image string
	// UAS attaches it as a USB Attached SCSI device instead of
	// usb-storage's bulk-only transport.
	UAS bool
}

// VM is a running guest.
type VM struct {
	Dir    string
	Kernel *Kernel
	cmd    *exec.Cmd
	qmp    *qmpClient
	done   chan struct{}
	waitMu sync.Mutex
	err    error
	seq    int
	mu     sync.Mutex
	tmpDir bool
	uas    map[string]bool   // sticks plugged in by AttachStick: UAS or not
	disks  map[string]string // and their disks in the guest
}

// Accel is the qemu accelerator the lab uses here: "kvm" only where
// /dev/kvm can run a stock kernel, else "tcg". SURE_LAB_ACCEL overrides.
func Accel() string {
	if a := os.Getenv("SURE_LAB_ACCEL"); a != "" {
		return a
	}
	// kvm_pvm is a nested hypervisor that runs only kernels built for
	// it: a stock kernel hangs right after the BIOS.
	if _, err := os.Stat("/sys/module/kvm_pvm"); err == nil {
		return "tcg"
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg"
	}
	f.Close()
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat("/sys/module/" + m); err == nil {
			return "kvm"
		}
	}
	return "tcg"
}

// Boot starts a guest and waits until it runs jobs (and its stick, if
// any, has appeared).
func Boot(ctx context.Context, c Config) (*VM, error) {
	if c.Kernel == nil {
		return nil, errors.New("vm: no kernel")
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return nil, fmt.Errorf("vm: %w (install qemu-system-x86)", err)
	}
	initrd, err := Initramfs(c.Kernel)
	if err != nil {
		return nil, err
	}
	v := &VM{Dir: c.Dir, Kernel: c.Kernel, done: make(chan struct{})}
	if v.Dir == "" {
		if v.Dir, err = os.MkdirTemp("", "sure-vm-"); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
		if err := os.Chmod(v.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("vm: %w", err)
		}
		v.tmpDir = true
	}
	if v.Dir, err = filepath.Abs(v.Dir); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(v.Dir, "jobs"), 0o777); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	os.Remove(filepath.Join(v.Dir, "ready"))
	if c.CPUs == 0 {
		c.CPUs = 2
	}
	if c.MemMB == 0 {
		c.MemMB = 2048
	}
	if c.BootTimeout == 0 {
		c.BootTimeout = 5 * time.Minute
	}
	qmpSock := filepath.Join(v.Dir, "qmp.sock")
	os.Remove(qmpSock)
	stick := 0
	args := []string{
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-m", strconv.Itoa(c.MemMB), "-smp", strconv.Itoa(c.CPUs),
		"-kernel", c.Kernel.Vmlinuz(), "-initrd", initrd,
		"-serial", "file:" + v.ConsoleLog(),
		"-qmp", "unix:" + qmpSock + ",server=on,wait=off",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap",
		"-virtfs", "local,path=" + v.Dir + ",mount_tag=share,security_model=passthrough,multidevs=remap",
		"-device", "qemu-xhci,id=xhci",
	}
	if Accel() == "kvm" {
		args = append(args, "-accel", "kvm", "-cpu", "host")
	} else {
		// Multi-threaded TCG let a 6.12 guest run into a nop its other
		// vCPU was patching (a panic at __schedule+0x343, in 1 of about 30
		// boots here); one thread for both vCPUs keeps SMP without the
		// race. SURE_LAB_TCG_THREAD=multi brings it back.
		thread := "single"
		if os.Getenv("SURE_LAB_TCG_THREAD") == "multi" {
			thread = "multi"
		}
		args = append(args, "-accel", "tcg,thread="+thread, "-cpu", "max")
	}
	if c.Stick != nil {
		stick = 1
		args = append(args, "-drive", "if=none,id=stick,file="+c.Stick.Image+",format=raw,cache=writeback")
		dev := "usb-storage,bus=xhci.0,drive=stick,removable=on,id=stickdev"
		if c.Stick.UAS {
			dev = "usb-uas,bus=xhci.0,id=uas -device scsi-hd,bus=uas.0,scsi-id=0,lun=0,drive=stick,removable=on,id=stickdev"
		}
		for _, d := range strings.Split(dev, " -device ") {
			args = append(args, "-device", d)
		}
	}
	args = append(args, "-append", fmt.Sprintf("console=ttyS0 loglevel=4 panic=-1 rdinit=/init sure_share=%s sure_stick=%d", v.Dir, stick))
	v.cmd = exec.Command(qemu, args...)
	qlog, err := os.Create(filepath.Join(v.Dir, "qemu.log"))
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	v.cmd.Stdout, v.cmd.Stderr = qlog, qlog
	if err := v.cmd.Start(); err != nil {
		qlog.Close()
		return nil, fmt.Errorf("vm: %s: %w", qemu, err)
	}
	go func() {
		err := v.cmd.Wait()
		qlog.Close()
		v.waitMu.Lock()
		v.err = err
		v.waitMu.Unlock()
		close(v.done)
	}()
	bctx, cancel := context.WithTimeout(ctx, c.BootTimeout)
	defer cancel()
	if err := v.waitFile(bctx, filepath.Join(v.Dir, "ready")); err != nil {
		v.Kill()
		return nil, fmt.Errorf("vm: boot %s: %w\n%s", c.Kernel.Version, err, v.consoleTail())
	}
	if v.qmp, err = dialQMP(qmpSock); err != nil {
		v.Kill()
		return nil, err
	}
	return v, nil
}

// ConsoleLog is the guest's serial console.
func (v *VM) ConsoleLog() string { return filepath.Join(v.Dir, "console.log") }

func (v *VM) consoleTail() string {
	b, _ := os.ReadFile(v.ConsoleLog())
	q, _ := os.ReadFile(filepath.Join(v.Dir, "qemu.log"))
	return "console: " + tail.Lines(string(b), 30) + "\nqemu: " + tail.Lines(string(q), 10)
}

// waitFile polls for path, failing early when qemu exits. The guest
// writes through 9p, so the file appears on the host as soon as it exists.
func (v *VM) waitFile(ctx context.Context, path string) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-v.done:
			if _, err := os.Stat(path); err == nil {
				return nil
			}
			v.waitMu.Lock()
			defer v.waitMu.Unlock()
			return fmt.Errorf("qemu exited: %v", v.err)
		case <-t.C:
		}
	}
}

// Result is what a job did in the guest.
type Result struct {
	Output string // stdout and stderr, interleaved
	Status int    // exit status of the script
}

// Run runs script with /bin/sh in the guest's root (the host's /), as
// root, and returns its output and exit status. The error is only for
// the lab failing, not for the script's status.
func (v *VM) Run(ctx context.Context, script string) (Result, error) {
	return v.run(ctx, script)
}

// RunAs is Run as uid and gid, with no supplementary groups.
func (v *VM) RunAs(ctx context.Context, uid, gid int, script string) (Result, error) {
	return v.run(ctx, v.asScript(uid, gid, script))
}

// asScript puts script in a file of the share and returns the job that
// runs it as uid and gid. The file stays until Close.
func (v *VM) asScript(uid, gid int, script string) string {
	v.mu.Lock()
	v.seq++
	name := filepath.Join(v.Dir, "jobs", fmt.Sprintf("as%d.sh", v.seq))
	v.mu.Unlock()
	if err := os.WriteFile(name, []byte(script), 0o644); err != nil {
		// The job then fails on the missing file and says so.
		return fmt.Sprintf("echo %s >&2; exit 2\n", shQuote("vm: "+err.Error()))
	}
	return fmt.Sprintf("cd /\nexport HOME=/tmp USER=u%d LOGNAME=u%d\nexec setpriv --reuid=%d --regid=%d --clear-groups -- /bin/sh %s\n", uid, uid, uid, gid, shQuote(name))
}

func (v *VM) run(ctx context.Context, script string) (Result, error) {
	j, err := v.start(script)
	if err != nil {
		return Result{}, err
	}
	return j.Wait(ctx)
}

// Job is a script running in the guest. The guest runs one job at a time:
// until it ends, later jobs wait.
type Job struct {
	v    *VM
	base string
}

// Start starts script as Run does and returns without waiting for it.
func (v *VM) Start(script string) (*Job, error) { return v.start(script) }

// StartAs is Start as uid and gid.
func (v *VM) StartAs(uid, gid int, script string) (*Job, error) {
	return v.start(v.asScript(uid, gid, script))
}

func (v *VM) start(script string) (*Job, error) {
	v.mu.Lock()
	v.seq++
	base := filepath.Join(v.Dir, "jobs", strconv.Itoa(v.seq))
	v.mu.Unlock()
	if err := os.WriteFile(base+".tmp", []byte(script), 0o644); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(base+".tmp", base+".job"); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	return &Job{v: v, base: base}, nil
}

// Output is what the job has printed so far: the guest writes it to the
// share as it goes.
func (j *Job) Output() string {
	b, _ := os.ReadFile(j.base + ".out")
	return string(b)
}

// Done reports whether the job has ended.
func (j *Job) Done() bool {
	_, err := os.Stat(j.base + ".rc")
	return err == nil
}

// Wait waits for the job to end and returns its output and status.
func (j *Job) Wait(ctx context.Context) (Result, error) {
	base := j.base
	if err := j.v.waitFile(ctx, base+".rc"); err != nil {
		return Result{}, fmt.Errorf("vm: job %s: %w\n%s", base, err, j.v.consoleTail())
	}
	out, _ := os.ReadFile(base + ".out")
	rc, err := os.ReadFile(base + ".rc")
	if err != nil {
		return Result{}, fmt.Errorf("vm: %w", err)
	}
	st, err := strconv.Atoi(strings.TrimSpace(string(rc)))
	if err != nil {
		return Result{}, fmt.Errorf("vm: job %s: bad status %q", base, rc)
	}
	for _, ext := range []string{".run", ".out", ".rc"} {
		os.Remove(base + ext)
	}
	return Result{Output: string(out), Status: st}, nil
}

// MustRun is Run for scripts that must succeed: a non-zero status is an
// error carrying the output.
func (v *VM) MustRun(ctx context.Context, script string) (string, error) {
	r, err := v.Run(ctx, script)
	if err != nil {
		return "", err
	}
	if r.Status != 0 {
		return r.Output, fmt.Errorf("vm: script exited %d: %s\nscript:\n%s", r.Status, strings.TrimSpace(r.Output), script)
	}
	return r.Output, nil
}

// Flushes is the number of flush requests the guest's disk dev (sda)
// completed: field 16 of /sys/block/DEV/stat (Linux 5.5+).
func (v *VM) Flushes(ctx context.Context, dev string) (int64, error) {
	out, err := v.MustRun(ctx, "cat /sys/block/"+dev+"/stat")
	if err != nil {
		return 0, err
	}
	return parseFlushes(out)
}

func parseFlushes(stat string) (int64, error) {
	f := strings.Fields(stat)
	if len(f) < 16 {
		return 0, fmt.Errorf("vm: block stat has %d fields, want at least 16: %q", len(f), stat)
	}
	return strconv.ParseInt(f[15], 10, 64)
}

// StickStats is qemu's own count of what the stick received.
func (v *VM) StickStats() (BlockStats, error) {
	return v.qmp.blockStats("stick")
}

// Close powers the guest off cleanly (its file systems are the caller's
// business) and removes a temporary Dir.
func (v *VM) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v.mu.Lock()
	v.seq++
	base := filepath.Join(v.Dir, "jobs", strconv.Itoa(v.seq))
	v.mu.Unlock()
	if err := os.WriteFile(base+".tmp", []byte("poweroff"), 0o644); err == nil {
		os.Rename(base+".tmp", base+".job")
	}
	select {
	case <-v.done:
	case <-ctx.Done():
		v.Kill()
	}
	if v.qmp != nil {
		v.qmp.close()
	}
	if v.tmpDir {
		os.RemoveAll(v.Dir)
	}
	return nil
}

// Kill stops qemu at once: the guest writes nothing more. What qemu had
// already written to the image file stays there (in the host's page cache),
// so a power cut needs the image on a stick with a volatile cache.
func (v *VM) Kill() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Kill()
		<-v.done
	}
}

func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// AttachStick plugs another stick into the running guest under id (a
// name of letters and digits) and returns its disk's name there (sdb,
// ...). It waits for the guest's kernel to see it.
func (v *VM) AttachStick(ctx context.Context, id string, s Stick) (string, error) {
	before, err := v.MustRun(ctx, "cd /sys/block && echo sd*")
	if err != nil {
		return "", err
	}
	if _, err := v.qmp.execute("blockdev-add", map[string]any{
		"driver": "raw", "node-name": id,
		"file":  map[string]any{"driver": "file", "filename": s.Image},
		"cache": map[string]any{"direct": false, "no-flush": false},
	}); err != nil {
		return "", err
	}
	devs := []map[string]any{{"driver": "usb-storage", "bus": "xhci.0", "drive": id, "id": id + "dev", "removable": true}}
	if s.UAS {
		devs = []map[string]any{
			{"driver": "usb-uas", "bus": "xhci.0", "id": id + "uas"},
			{"driver": "scsi-hd", "bus": id + "uas.0", "scsi-id": 0, "lun": 0, "drive": id, "id": id + "dev", "removable": true},
		}
	}
	for _, d := range devs {
		if _, err := v.qmp.execute("device_add", d); err != nil {
			return "", err
		}
	}
	v.mu.Lock()
	if v.uas == nil {
		v.uas = map[string]bool{}
	}
	v.uas[id] = s.UAS
	v.mu.Unlock()
	// Enumeration takes a moment; two minutes is far more than TCG needs.
	out, err := v.MustRun(ctx, fmt.Sprintf(`old=" %s "
n=0
while :; do
	for d in /sys/block/sd*; do
		b=${d##*/}
		case "$old" in *" $b "*) continue;; esac
		[ "$(cat $d/size)" != 0 ] && { echo $b; exit 0; }
	done
	n=$((n+1)); [ $n -gt 1200 ] && { echo "no new disk after 120 s" >&2; exit 1; }
	sleep 0.1
done`, strings.TrimSpace(before)))
	if err != nil {
		return "", err
	}
	disk := strings.TrimSpace(out)
	v.mu.Lock()
	if v.disks == nil {
		v.disks = map[string]string{}
	}
	v.disks[id] = disk
	v.mu.Unlock()
	return disk, nil
}

// DetachStick unplugs the stick attached as id, as a user pulling it out
// would: what the guest had not flushed to it may be lost.
func (v *VM) DetachStick(ctx context.Context, id string) error {
	dev := id + "dev"
	v.mu.Lock()
	if v.uas[id] {
		dev = id + "uas"
	}
	disk := v.disks[id]
	delete(v.uas, id)
	delete(v.disks, id)
	v.mu.Unlock()
	if _, err := v.qmp.execute("device_del", map[string]any{"id": dev}); err != nil {
		return err
	}
	// The unplug completes asynchronously; the node is free to delete
	// only once the guest let go of the device.
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := v.qmp.execute("blockdev-del", map[string]any{"node-name": id})
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vm: detach %s: %w (last: %v)", id, ctx.Err(), err)
		case <-t.C:
		}
	}
	if disk == "" {
		return nil
	}
	// The guest's kernel handles the disconnect on its own time.
	_, err := v.MustRun(ctx, fmt.Sprintf(`n=0
while [ -e /sys/block/%s ]; do
	n=$((n+1)); [ $n -gt 1200 ] && { echo "still there after 120 s" >&2; exit 1; }
	sleep 0.1
done`, disk))
	return err
}

// StickStatsOf is StickStats for a stick plugged in by AttachStick.
func (v *VM) StickStatsOf(id string) (BlockStats, error) {
	return v.qmp.blockStats(id)
}
