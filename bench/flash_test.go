//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sure-tools/sure/internal/fsimage"
	"github.com/sure-tools/sure/lab/vdisk"
)

// TestFlashBench is the sure write scenario: an ext4 image of
// SURE_BENCH_FLASH_SIZE (default 2 GiB) about a quarter full of files,
// raw, with a bmap from bmaptool create, and xz-compressed, written onto
// a fresh virtual stick at 100 MB/s by sure write, dd bs=4M conv=fsync,
// bmaptool copy and, when SURE_BENCH_FLASH_OLD names one, an older sure.
// Each time includes the tool's own check: sure's read-back, cmp after
// dd, bmaptool's checksums while writing (it has no read-back). It is
// heavy, so it runs only when asked:
//
//	SURE_BENCH_FLASH=1 go test -run TestFlashBench -v -timeout 1h ./bench/
func TestFlashBench(t *testing.T) {
	if os.Getenv("SURE_BENCH_FLASH") == "" {
		t.Skip("set SURE_BENCH_FLASH=1 to run the sure write benchmark")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, tool := range []string{"bmaptool", "mkfs.ext4", "xz", "dd", "cmp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (scripts/install-deps)", tool)
		}
	}
	var sz size = 2 << 30
	if s := os.Getenv("SURE_BENCH_FLASH_SIZE"); s != "" {
		if err := sz.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	size := int64(sz)
	const bandwidth = 100
	work, err := os.MkdirTemp("/var/tmp", "sure-flash-bench-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	ctx := context.Background()
	sh := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}

	sure := filepath.Join(work, "sure")
	build := exec.Command("go", "build", "-o", sure, "./cmd/sure")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building sure: %v\n%s", err, out)
	}

	// The image: files of random data filling a quarter of an ext4.
	tree := filepath.Join(work, "tree")
	// Small files fill up to an eighth of the image, big ones the rest of
	// the quarter.
	nSmall := int(min(size/8/(130<<10), 2000))
	if _, err := smallTree(filepath.Join(tree, "small"), nSmall, 4<<10, 256<<10, 31); err != nil {
		t.Fatal(err)
	}
	st, err := measure(tree)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; st.bytes < size/4-(64<<20); i++ {
		n := min(size/4-(64<<20)-st.bytes, 128<<20)
		if _, err := bigFile(filepath.Join(tree, fmt.Sprintf("big%02d", i)), n, uint64(40+i)); err != nil {
			t.Fatal(err)
		}
		st.bytes += n
	}
	img := filepath.Join(work, "os.img")
	t.Logf("making %s: ext4 of %s with %s of files", img, fmtBytes(size), fmtBytes(st.bytes))
	sh("mkfs.ext4", "-q", "-F", "-d", tree, img, strconv.FormatInt(size>>10, 10)+"K")
	os.RemoveAll(tree)
	sh("bmaptool", "create", "-o", filepath.Join(work, "os.img.bmap"), img)
	sh("sh", "-c", "xz -T2 -1 -k -c "+img+" > "+img+".xz")
	out, _ := exec.Command(sure, "write", "--dry-run", img, "/dev/null").CombinedOutput()
	mapped := ""
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "bmap ") {
			mapped = l
		}
	}
	t.Logf("%s", mapped)

	type tool struct {
		name, note string
		cmd        func(dev string) string
	}
	tools := []tool{
		{"sure write IMAGE.xz (bmap found)", "read-back of the mapped ranges", func(dev string) string { return sure + " write -q --yes " + img + ".xz " + dev }},
		{"sure write IMAGE (bmap found)", "read-back of the mapped ranges", func(dev string) string { return sure + " write -q --yes " + img + " " + dev }},
		{"bmaptool copy IMAGE.xz", "checksums while writing, no read-back", func(dev string) string { return "bmaptool -q copy " + img + ".xz " + dev }},
		{"bmaptool copy IMAGE", "checksums while writing, no read-back", func(dev string) string { return "bmaptool -q copy " + img + " " + dev }},
		{"dd bs=4M conv=fsync + cmp", "cmp of the whole image after dropping caches", func(dev string) string {
			return "dd if=" + img + " of=" + dev + " bs=4M conv=fsync status=none && echo 3 > /proc/sys/vm/drop_caches && cmp -n " + strconv.FormatInt(size, 10) + " " + img + " " + dev
		}},
		{"xz -dc \\| dd bs=4M conv=fsync + cmp", "cmp of the whole image after dropping caches", func(dev string) string {
			return "xz -dc -T2 " + img + ".xz | dd of=" + dev + " bs=4M iflag=fullblock conv=fsync status=none && echo 3 > /proc/sys/vm/drop_caches && cmp -n " + strconv.FormatInt(size, 10) + " " + img + " " + dev
		}},
	}
	if old := os.Getenv("SURE_BENCH_FLASH_OLD"); old != "" {
		tools = append(tools,
			tool{"sure write IMAGE.xz, before bmap", "read-back of the whole image", func(dev string) string { return old + " write -q --yes " + img + ".xz " + dev }},
			tool{"sure write IMAGE, before bmap", "read-back of the whole image", func(dev string) string { return old + " write -q --yes " + img + " " + dev }},
		)
	}

	var rows []string
	var ddTime time.Duration
	var bmapTime = map[string]time.Duration{}
	for _, tl := range tools {
		d, err := vdisk.Start(vdisk.Config{Dir: filepath.Join(work, "stick"), Size: size + 64<<20, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		dev, err := fsimage.Attach(d.Image)
		if err != nil {
			d.Close()
			t.Fatal(err)
		}
		if err := d.SetFaults(vdisk.Faults{BandwidthMBps: bandwidth, FlushLatency: 10 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		sh("sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches")
		rss := filepath.Join(work, "rss")
		start := time.Now()
		c := exec.CommandContext(ctx, "/usr/bin/time", "-f", "%M", "-o", rss, "sh", "-c", tl.cmd(dev))
		out, err := c.CombinedOutput()
		took := time.Since(start)
		stats, _ := d.Stats()
		d.SetFaults(vdisk.Faults{})
		fsimage.Detach(dev)
		d.Close()
		os.RemoveAll(filepath.Join(work, "stick"))
		if err != nil {
			t.Fatalf("%s: %v\n%s", tl.name, err, out)
		}
		kib, _ := os.ReadFile(rss)
		k, _ := strconv.ParseInt(strings.TrimSpace(string(kib)), 10, 64)
		t.Logf("%s: %.1f s, %s sent to the stick, peak RSS %s", tl.name, took.Seconds(), fmtBytes(stats.BytesReceived), fmtBytes(k<<10))
		if strings.HasPrefix(tl.name, "dd") {
			ddTime = took
		}
		if strings.HasPrefix(tl.name, "bmaptool") {
			bmapTime[strings.TrimPrefix(tl.name, "bmaptool copy ")] = took
		}
		rows = append(rows, fmt.Sprintf("| %s | %.1f | %s | %s | %s |", tl.name, took.Seconds(), fmtBytes(stats.BytesReceived), fmtBytes(k<<10), tl.note))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "image: ext4 of %s with %s of files; %s\n\n", fmtBytes(size), fmtBytes(st.bytes), mapped)
	b.WriteString("| command | seconds | sent to the stick | peak RSS | check |\n|---|---|---|---|---|\n")
	b.WriteString(strings.Join(rows, "\n") + "\n")
	t.Logf("\n%s", b.String())
	t.Logf("dd: %.1f s; bmaptool: raw %.1f s, xz %.1f s", ddTime.Seconds(), bmapTime["IMAGE"].Seconds(), bmapTime["IMAGE.xz"].Seconds())
}
