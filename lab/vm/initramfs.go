//go:build linux

package vm

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

//go:embed init.sh
var initScript []byte

// Modules the guest loads, in this order (each after its dependencies):
// the 9p root, the USB mass-storage stack and the file systems a stick
// carries. Optional ones may be missing from a kernel (ntfs3 on 6.1).
var (
	requiredModules = []string{"virtio_pci", "9pnet_virtio", "9p", "xhci_pci", "usb_storage", "uas", "sd_mod", "sg",
		"fat", "vfat", "msdos", "exfat", "nls_cp437", "nls_ascii", "nls_iso8859-1", "nls_utf8", "ext4"}
	optionalModules = []string{"ntfs3", "loop", "fuse"}
)

// BusyboxPath is the static busybox that runs as the guest's PID 1.
const BusyboxPath = "/bin/busybox"

// Initramfs builds (or reuses from the cache) the guest's initramfs for k:
// busybox as /init's shell, the modules decompressed (busybox's insmod
// reads plain .ko files) and lib/modules/order, the order to load them.
func Initramfs(k *Kernel) (string, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("vm: %w (install busybox-static)", err)
	}
	var files []string
	seen := map[string]bool{}
	for _, m := range append(append([]string{}, requiredModules...), optionalModules...) {
		deps, err := k.moduleDeps(m)
		if err != nil {
			if contains(optionalModules, m) {
				continue
			}
			return "", fmt.Errorf("vm: kernel %s: %w", k.Version, err)
		}
		for _, d := range deps {
			if !seen[d] {
				seen[d] = true
				files = append(files, d)
			}
		}
	}
	h := sha256.New()
	h.Write(bb)
	h.Write(initScript)
	fmt.Fprintln(h, k.Version, files)
	out := filepath.Join(filepath.Dir(k.Root), "initramfs-"+hex.EncodeToString(h.Sum(nil))[:16]+".cpio")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	unlock, err := lockCache(CacheDir())
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	var buf bytes.Buffer
	w := cpioWriter{w: &buf}
	for _, d := range []string{"bin", "dev", "proc", "sys", "host", "lib", "lib/modules"} {
		w.dir(d)
	}
	w.file("bin/busybox", 0o755, bb)
	w.file("init", 0o755, initScript)
	var order []string
	for _, f := range files {
		data, err := readModule(f)
		if err != nil {
			return "", fmt.Errorf("vm: %s: %w", f, err)
		}
		name := moduleName(f)
		w.file("lib/modules/"+name, 0o644, data)
		order = append(order, name)
	}
	w.file("lib/modules/order", 0o644, []byte(strings.Join(order, "\n")+"\n"))
	w.trailer()
	if w.err != nil {
		return "", fmt.Errorf("vm: initramfs: %w", w.err)
	}
	if err := os.WriteFile(out+".tmp", buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return "", fmt.Errorf("vm: %w", err)
	}
	return out, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func moduleName(path string) string {
	b := filepath.Base(path)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}

func readModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(path, ".xz"):
		xr, err := xz.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = xr
	case strings.HasSuffix(path, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(path, ".ko"):
	default:
		return nil, fmt.Errorf("unknown module compression")
	}
	return io.ReadAll(r)
}

// cpioWriter writes the "newc" format the kernel unpacks an initramfs from.
type cpioWriter struct {
	w   io.Writer
	ino int
	err error
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	var b bytes.Buffer
	b.WriteString(hdr)
	b.WriteString(name)
	b.WriteByte(0)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	b.Write(data)
	for b.Len()%4 != 0 {
		b.WriteByte(0)
	}
	_, c.err = c.w.Write(b.Bytes())
}

func (c *cpioWriter) dir(name string) { c.entry(name, 0o040755, nil) }

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, 0o100000|perm, data)
}

func (c *cpioWriter) trailer() { c.entry("TRAILER!!!", 0, nil) }
