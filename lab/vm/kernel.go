//go:build linux

package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sure-tools/sure/internal/tail"
)

// Suites of Debian whose distribution kernel the lab boots: bookworm's 6.1
// (vfat, exfat, no ntfs3) and trixie's 6.12 (vfat, exfat, ntfs3).
const (
	Bookworm = "bookworm"
	Trixie   = "trixie"
)

// Mirror is where kernels come from; SURE_LAB_MIRROR overrides it.
const Mirror = "http://deb.debian.org/debian"

// CacheDir holds the fetched kernels and built initramfs images, outside
// the repository so that they survive between runs: $SURE_LAB_CACHE, or
// /var/cache/sure-lab.
func CacheDir() string {
	if d := os.Getenv("SURE_LAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/sure-lab"
}

// Kernel is a Debian kernel package unpacked in the cache.
type Kernel struct {
	Suite   string // bookworm, trixie
	Package string // linux-image-6.12.57+deb13-amd64
	Version string // uname -r: 6.12.57+deb13-amd64
	Root    string // where the package is unpacked; modules under lib/modules/VERSION
}

// Vmlinuz is the kernel image to boot.
func (k *Kernel) Vmlinuz() string {
	return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version)
}

// HasModule reports whether the kernel ships module name (as modprobe
// spells it) or has it built in.
func (k *Kernel) HasModule(name string) bool {
	_, err := k.moduleDeps(name)
	return err == nil
}

// moduleDeps lists the module files to load, in order, for name; empty
// when it is built in.
func (k *Kernel) moduleDeps(name string) ([]string, error) {
	out, err := exec.Command("modprobe", "-d", k.Root, "-S", k.Version, "--show-depends", name).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("modprobe --show-depends %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	var files []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "insmod" {
			files = append(files, f[1])
		}
	}
	return files, nil
}

// lockCache serialises fetches and builds between processes (tests of
// several packages may boot at once).
func lockCache(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("vm: lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// FetchKernel returns suite's amd64 distribution kernel (the one
// linux-image-amd64 depends on), downloading and unpacking it on first use.
// It uses a private apt configuration under the cache, so the host's apt
// sources and state are left alone and nothing is installed.
func FetchKernel(ctx context.Context, suite string) (*Kernel, error) {
	dir := filepath.Join(CacheDir(), suite)
	unlock, err := lockCache(CacheDir())
	if err != nil {
		return nil, err
	}
	defer unlock()
	stamp := filepath.Join(dir, "kernel.json")
	if b, err := os.ReadFile(stamp); err == nil {
		var k Kernel
		if err := json.Unmarshal(b, &k); err == nil {
			if _, err := os.Stat(k.Vmlinuz()); err == nil {
				return &k, nil
			}
		}
	}
	k, err := fetch(ctx, suite, dir)
	if err != nil {
		return nil, fmt.Errorf("vm: fetch the %s kernel: %w", suite, err)
	}
	b, _ := json.MarshalIndent(k, "", "  ")
	if err := os.WriteFile(stamp+".tmp", b, 0o644); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if err := os.Rename(stamp+".tmp", stamp); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	return k, nil
}

func fetch(ctx context.Context, suite, dir string) (*Kernel, error) {
	mirror := Mirror
	if m := os.Getenv("SURE_LAB_MIRROR"); m != "" {
		mirror = m
	}
	apt := filepath.Join(dir, "apt")
	for _, d := range []string{"lists/partial", "cache/archives/partial", "sources.d", "preferences.d", "debs"} {
		if err := os.MkdirAll(filepath.Join(apt, d), 0o755); err != nil {
			return nil, err
		}
	}
	sources := filepath.Join(apt, "debian.sources")
	src := fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nArchitectures: amd64\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n", mirror, suite)
	if err := os.WriteFile(sources, []byte(src), 0o644); err != nil {
		return nil, err
	}
	status := filepath.Join(apt, "status")
	if err := os.WriteFile(status, nil, 0o644); err != nil {
		return nil, err
	}
	opts := []string{
		"-q",
		"-o", "Dir::Etc::SourceList=" + sources,
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(apt, "sources.d"),
		"-o", "Dir::Etc::PreferencesParts=" + filepath.Join(apt, "preferences.d"),
		"-o", "Dir::State::Lists=" + filepath.Join(apt, "lists"),
		"-o", "Dir::State::status=" + status,
		"-o", "Dir::Cache=" + filepath.Join(apt, "cache"),
		"-o", "APT::Architecture=amd64",
		"-o", "APT::Sandbox::User=root",
		"-o", "Debug::NoLocking=1",
		"-o", "Acquire::Languages=none",
	}
	run := func(wd, name string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = wd
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, tail.Lines(stderr.String(), 5))
		}
		return out, nil
	}
	if _, err := run(apt, "apt-get", append(opts, "update")...); err != nil {
		return nil, err
	}
	out, err := run(apt, "apt-cache", append(opts, "depends", "linux-image-amd64")...)
	if err != nil {
		return nil, err
	}
	pkg := ""
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return nil, fmt.Errorf("linux-image-amd64 in %s depends on no linux-image package: %s", suite, out)
	}
	debs := filepath.Join(apt, "debs")
	if _, err := run(debs, "apt-get", append(opts, "download", pkg)...); err != nil {
		return nil, err
	}
	matches, _ := filepath.Glob(filepath.Join(debs, pkg+"_*.deb"))
	if len(matches) == 0 {
		return nil, fmt.Errorf("apt-get download %s left no .deb in %s", pkg, debs)
	}
	version := strings.TrimPrefix(pkg, "linux-image-")
	root := filepath.Join(dir, version)
	tmp := root + ".tmp"
	os.RemoveAll(tmp)
	if _, err := run(dir, "dpkg", "-x", matches[0], tmp); err != nil {
		return nil, err
	}
	// Trixie ships modules under usr/lib; depmod -b and modprobe -d look
	// under lib.
	if _, err := os.Lstat(filepath.Join(tmp, "lib")); errors.Is(err, os.ErrNotExist) {
		if err := os.Symlink("usr/lib", filepath.Join(tmp, "lib")); err != nil {
			return nil, err
		}
	}
	if _, err := run(dir, "depmod", "-b", tmp, version); err != nil {
		return nil, err
	}
	os.RemoveAll(root)
	if err := os.Rename(tmp, root); err != nil {
		return nil, err
	}
	for _, m := range matches {
		os.Remove(m)
	}
	return &Kernel{Suite: suite, Package: pkg, Version: version, Root: root}, nil
}
