package copier

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/sure-tools/sure/durable"
	"github.com/sure-tools/sure/internal/beneath"
)

// backup gives the existing file dst its backup name before the new copy
// is published (--backup): a hard link made under a temporary name, then
// renamed onto the backup name, so that dst and an older backup of that
// name are each whole at every instant. Where the file system holds no
// hard links, dst itself is renamed to the backup name. Either change is
// in dst's directory, which the barrier before the new file is reported
// flushes too.
func (r *run) backup(dst string) error {
	dir, err := backupIn(r.root, dst, r.opt.Backup, r.opt.BackupSuffix)
	if err != nil {
		return err
	}
	return r.c.DirChanged(dir)
}

// backupIn makes dst's backup beneath root and returns dst's directory.
func backupIn(root *beneath.Root, dst string, b Backup, suffix string) (string, error) {
	d, name, err := root.Parent(dst)
	if err != nil {
		return "", err
	}
	defer d.Release()
	entries, err := d.ReadDir()
	if err != nil {
		return "", err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	bname := backupName(name, names, b, suffix)
	if bname == name {
		return "", fmt.Errorf("backing up '%s' would destroy source; '%s' not copied", dst, dst)
	}
	var temp string
	for range 100 {
		temp = durable.NewTempName()
		if err = d.Link(d, name, temp); !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	switch {
	case err == nil:
		err = d.Rename(temp, bname, false)
		if err != nil {
			d.Remove(temp)
		}
	case linkUnsupported(err):
		err = d.Rename(name, bname, false)
	}
	if err != nil {
		return "", fmt.Errorf("cannot backup '%s': %w", dst, err)
	}
	return d.Path(), nil
}
