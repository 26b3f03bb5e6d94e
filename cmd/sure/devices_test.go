//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sure-tools/sure/device"
	"github.com/sure-tools/sure/device/devicetest"
	"github.com/sure-tools/sure/internal/fsimage"
)

// TestDevices runs the scripts of sure devices and sure doctor, which make
// sticks of loop devices (testdata/devices).
func TestDevices(t *testing.T) {
	cmds := commands()
	cmds["partstick"] = cmdPartstick
	cmds["fsstick"] = cmdFsstick
	cmds["swapon"] = cmdSwapon
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/devices",
		Cmds:      cmds,
		Condition: condition(""),
		Setup:     setup,
	})
}

// partstick NAME MIB SPEC...: a partitioned stick of MIB MiB, one
// partition per SPEC: KIND[,label=L][,size=MIB][,mount] (KIND "-" for an
// empty one, "swap" for mkswap). Sets $NAME (the disk), $NAME_IMG, and for
// partition i $NAME_Pi and, when mounted, $NAME_Mi. A label is written
// with Go's escapes (label=a\x1b[2J). Everything is torn
// down when the script ends.
func cmdPartstick(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "partstick")
	if len(args) < 3 {
		ts.Fatalf("usage: partstick NAME MIB SPEC...")
	}
	size, err := strconv.Atoi(args[1])
	ts.Check(err)
	var parts []devicetest.Part
	for _, spec := range args[2:] {
		fields := strings.Split(spec, ",")
		p := devicetest.Part{Kind: fields[0]}
		if p.Kind == "-" {
			p.Kind = ""
		}
		for _, f := range fields[1:] {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "label":
				// Go escapes, for labels that hold control characters.
				p.Label, err = strconv.Unquote(`"` + v + `"`)
				ts.Check(err)
			case "size":
				p.MiB, err = strconv.Atoi(v)
				ts.Check(err)
			case "mount":
				p.Mount = true
			default:
				ts.Fatalf("partstick: unknown %q in %q", f, spec)
			}
		}
		parts = append(parts, p)
	}
	s := devicetest.Partitioned(ts.Value("tb").(testing.TB), size, parts...)
	name := args[0]
	ts.Setenv(name, s.Disk)
	ts.Setenv(name+"_IMG", s.Image)
	for i, p := range s.Parts {
		ts.Setenv(fmt.Sprintf("%s_P%d", name, i+1), p)
		if s.Mounts[i] != "" {
			ts.Setenv(fmt.Sprintf("%s_M%d", name, i+1), s.Mounts[i])
		}
	}
}

// fsstick NAME KIND: a stick formatted whole (no partition table) with
// KIND, mounted. Sets $NAME (the loop device), $NAME_DIR and $NAME_IMG.
func cmdFsstick(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "fsstick")
	if len(args) != 2 {
		ts.Fatalf("usage: fsstick NAME KIND")
	}
	name, kind := args[0], args[1]
	needFS(ts, "fsstick", kind)
	image, dir := ts.MkAbs(name+".img"), ts.MkAbs(name)
	m := mountFresh(ts, kind, image, dir)
	ts.Setenv(name, m.Device)
	ts.Setenv(name+"_DIR", dir)
	ts.Setenv(name+"_IMG", image)
}

// swapon DEV: use DEV as swap until the test ends.
func cmdSwapon(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "swapon")
	if len(args) != 1 {
		ts.Fatalf("usage: swapon DEV")
	}
	devicetest.Swapon(ts.Value("tb").(testing.TB), args[0])
}

// TestDevicesJSON: --json carries what the table shows, in a form a
// program can check: the stick, its partitions, their file systems and
// mount points.
func TestDevicesJSON(t *testing.T) {
	s := devicetest.Partitioned(t, 96,
		devicetest.Part{MiB: 48, Kind: "ext4", Label: "SUREJSON", Mount: true},
		devicetest.Part{})
	var out, errb bytes.Buffer
	if code := run([]string{"devices", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("sure devices --json: exit %d: %s", code, errb.String())
	}
	var disks []device.Disk
	if err := json.Unmarshal(out.Bytes(), &disks); err != nil {
		t.Fatalf("sure devices --json: %v\n%s", err, out.String())
	}
	i := slices.IndexFunc(disks, func(d device.Disk) bool { return d.Path == s.Disk })
	if i < 0 {
		t.Fatalf("sure devices --json misses %s:\n%s", s.Disk, out.String())
	}
	d := disks[i]
	if d.Transport != "loop" || !d.Removable || d.BackingFile != s.Image || len(d.Partitions) != 2 {
		t.Fatalf("%s in JSON: %+v", s.Disk, d)
	}
	p := d.Partitions[0]
	if p.Path != s.Parts[0] || p.FSType != "ext4" || p.Label != "SUREJSON" || len(p.Mounts) != 1 || p.Mounts[0].MountPoint != s.Mounts[0] {
		t.Errorf("partition 1 in JSON: %+v", p)
	}
	if q := d.Partitions[1]; q.FSType != "" || q.Mounts == nil || len(q.Mounts) != 0 {
		t.Errorf("empty partition 2 in JSON: %+v (mounts must be [], not null)", q)
	}
}

// TestDoctorJSON: the chain in --json names the same devices the script
// checks in words, down to the file system holding the image.
func TestDoctorJSON(t *testing.T) {
	m := fsimage.ForTest(t, "exfat")
	var out, errb bytes.Buffer
	if code := run([]string{"doctor", "--json", m.Dir}, &out, &errb); code != 0 {
		t.Fatalf("sure doctor --json: exit %d: %s", code, errb.String())
	}
	var r report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("sure doctor --json: %v\n%s", err, out.String())
	}
	if r.Kind != "exfat" || r.Barrier != "one fsync" || r.Device != m.Device || r.Server == nil || r.Server.PID != m.ServerPID() {
		t.Errorf("doctor --json: kind %q barrier %q device %q server %+v; want exfat, one fsync, %s, pid %d", r.Kind, r.Barrier, r.Device, r.Server, m.Device, m.ServerPID())
	}
	if r.Backing == nil || r.Backing.Path != m.Image {
		t.Fatalf("doctor --json: backing %+v, want %s", r.Backing, m.Image)
	}
	if want := filepath.Dir(m.Image); !strings.HasPrefix(want, r.Backing.MountPoint) {
		t.Errorf("image %s is not under the backing mount %s", m.Image, r.Backing.MountPoint)
	}
	if r.MountBDI == nil || !r.MountBDI.StrictLimit || r.DiskBDI == nil {
		t.Errorf("doctor --json: bdis %+v %+v, want the FUSE one strict", r.MountBDI, r.DiskBDI)
	}
	if r.Dirty == nil || r.Kernel.Release == "" {
		t.Errorf("doctor --json: dirty %+v kernel %+v", r.Dirty, r.Kernel)
	}
}
