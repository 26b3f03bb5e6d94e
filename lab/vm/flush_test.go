//go:build linux

package vm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func mountStick(ctx context.Context, t *testing.T, v *VM, fs, opts string) {
	t.Helper()
	if opts != "" {
		opts = "-o " + opts
	}
	if _, err := v.MustRun(ctx, fmt.Sprintf("set -e\numount /mnt/s 2>/dev/null || true\nmkdir -p /mnt/s\n%s\nmount -t %s %s /dev/sda /mnt/s", mkfsCommand(fs, "/dev/sda"), fs, opts)); err != nil {
		t.Fatal(err)
	}
}

// flushProbe is sourced by the measurement scripts: w and f print the
// writes and flushes sda completed so far (fields 5 and 16 of its stat).
const flushProbe = `
w() { set -- $(cat /sys/block/sda/stat); echo $5; }
f() { set -- $(cat /sys/block/sda/stat); echo ${16}; }
[ -f /tmp/data ] || head -c 4194304 /dev/urandom > /tmp/data
`

// measurement is what one operation sent the stick.
type measurement struct {
	flushes int          // the stick's flush counter, before and after
	events  []BlockEvent // its requests, traced
}

// measure runs op after a plain cp of a 4 MiB file to /mnt/s/NAME ($F in
// op) and returns what the stick received during op. pre runs between the
// cp and the count, so its requests are not counted.
func measure(ctx context.Context, t *testing.T, v *VM, name, pre, op string) measurement {
	t.Helper()
	script := flushProbe + fmt.Sprintf(`set -e
cp /tmp/data /mnt/s/%[1]s
F=/mnt/s/%[1]s
%[2]s
b=$(f)
%[4]s
%[3]s
a=$(f)
echo $((a-b))
%[5]s`, name, pre, op, TraceOn, TraceOff)
	out, err := v.MustRun(ctx, script)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("%s: %q", op, out)
	}
	evs, err := ParseTrace(rest, "8,0")
	if err != nil {
		t.Fatal(err)
	}
	return measurement{flushes: n, events: evs}
}

// onlyBootSectorFlushes reports whether every FLUSH issued in evs comes
// right before or after a write of sector 0, the exFAT boot sector whose
// volume-dirty flag the driver sets and clears with PREFLUSH and FUA (the
// block layer turns FUA into a FLUSH after the write on a drive without it).
func onlyBootSectorFlushes(evs []BlockEvent) bool {
	var issued []BlockEvent
	for _, e := range evs {
		if !e.Complete {
			issued = append(issued, e)
		}
	}
	boot := func(i int) bool {
		return i >= 0 && i < len(issued) && issued[i].Write() && issued[i].Sector == 0
	}
	for i, e := range issued {
		if e.Flush() && !boot(i-1) && !boot(i+1) {
			return false
		}
	}
	return true
}

// TestFlushCounts measures what the drive receives for each candidate
// barrier on the in-kernel stick file systems and asserts the facts the
// barrier choice rests on: syncfs sends vfat's and ntfs3's drive no FLUSH;
// fsync of a file, or of a directory after syncfs returned (when all data
// is written), sends one after the last write, with no root needed. exfat's
// syncfs flushes only through the write that clears the volume-dirty flag,
// a side effect no barrier may rest on.
func TestFlushCounts(t *testing.T) {
	for _, suite := range []string{Trixie, Bookworm} {
		t.Run(suite, func(t *testing.T) {
			v := sharedGuest(t, suite)
			ctx := context.Background()
			for _, fs := range []string{"vfat", "exfat", "ntfs3", "ext4"} {
				if !v.Kernel.HasModule(fs) {
					t.Logf("kernel %s has no %s", v.Kernel.Version, fs)
					continue
				}
				t.Run(fs, func(t *testing.T) {
					mountStick(ctx, t, v, fs, "")
					ops := []struct{ name, pre, op string }{
						{"syncfs", "", "sync -f $F"},
						{"fsync file", "", "sync $F"},
						{"fsync dir", "", "sync /mnt/s"},
						{"syncfs, fsync dir", "sync -f $F", "sync /mnt/s"},
						{"overwrite in place, syncfs", "sync -f $F", "dd if=/tmp/data of=$F bs=64k count=1 conv=notrunc 2>/dev/null; sync -f $F"},
					}
					m := map[string]measurement{}
					var table []string
					for i, o := range ops {
						r := measure(ctx, t, v, fmt.Sprint(i), o.pre, o.op)
						m[o.name] = r
						ok, writes, flushes := Covered(r.events)
						table = append(table, fmt.Sprintf("%s: %d FLUSH (traced %d, %d writes, covered %v)", o.name, r.flushes, flushes, writes, ok))
						if fs != "ext4" && flushes != r.flushes {
							t.Errorf("%s: the trace has %d FLUSH requests, the counter %d", o.name, flushes, r.flushes)
						}
					}
					t.Logf("%s %s:\n%s", v.Kernel.Version, fs, strings.Join(table, "\n"))
					barrier := []string{"fsync file", "syncfs, fsync dir"}
					if fs == "ext4" {
						// A clean directory's fsync sends ext4's drive nothing.
						barrier = nil
						if m["fsync file"].flushes < 1 {
							t.Errorf("ext4 fsync file sent no FLUSH")
						}
					}
					for _, op := range barrier {
						if ok, _, _ := Covered(m[op].events); m[op].flushes < 1 || !ok {
							t.Errorf("%s: %d FLUSH requests, the last write covered: %v; want a FLUSH after the last write", op, m[op].flushes, ok)
						}
					}
					if m["fsync dir"].flushes < 1 {
						t.Errorf("fsync dir sent no FLUSH")
					}
					switch fs {
					case "vfat", "ntfs3":
						for _, op := range []string{"syncfs", "overwrite in place, syncfs"} {
							if m[op].flushes != 0 {
								t.Errorf("%s sent %d FLUSH requests; the barrier choice assumes 0 (re-measure)", op, m[op].flushes)
							}
						}
					case "exfat":
						for _, op := range []string{"syncfs", "overwrite in place, syncfs"} {
							if !onlyBootSectorFlushes(m[op].events) {
								t.Errorf("%s: a FLUSH not next to a boot sector write: %v", op, m[op].events)
							}
						}
					case "ext4":
						// Its journal commit is the barrier; the trace shows
						// other writes after the commit's FLUSH, so ordering is
						// not asserted here, only that syncfs flushes.
						if m["syncfs"].flushes < 1 {
							t.Errorf("ext4 syncfs sent no FLUSH")
						}
					}
				})
			}
		})
	}
}
