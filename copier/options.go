package copier

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Preserve says which attributes of the source a copy keeps, as cp's
// --preserve names them.
type Preserve struct {
	Mode       bool // permission bits, set-ID and sticky bits
	Ownership  bool // owner (as root) and group
	Timestamps bool // access and modification times
	Links      bool // hard links between files of the job
	Xattr      bool // extended attributes: user.*, and security.* where allowed
}

// any reports whether some attribute beyond the default mode is kept.
func (p Preserve) any() bool { return p.Mode || p.Ownership || p.Timestamps || p.Xattr }

// PreserveAll is what -a and mv keep.
var PreserveAll = Preserve{Mode: true, Ownership: true, Timestamps: true, Links: true, Xattr: true}

// ParsePreserve applies a comma-separated --preserve or --no-preserve
// list to p: set is true for --preserve.
func ParsePreserve(p *Preserve, list string, set bool) error {
	for _, w := range strings.Split(list, ",") {
		switch w {
		case "mode":
			p.Mode = set
		case "ownership":
			p.Ownership = set
		case "timestamps":
			p.Timestamps = set
		case "links":
			p.Links = set
		case "xattr":
			p.Xattr = set
		case "all":
			if set {
				*p = PreserveAll
			} else {
				*p = Preserve{}
			}
		case "context":
			// SELinux contexts: not kept, and not an error where none are used.
		default:
			return fmt.Errorf("invalid argument '%s' for '--preserve'", w)
		}
	}
	return nil
}

// Deref says which symlinks of the sources are followed.
type Deref int

const (
	DerefDefault Deref = iota // cp's default: operands followed without -r, nothing with -r
	DerefNever                // -P
	DerefArgs                 // -H: operands only
	DerefAll                  // -L: every symlink
)

// Update says which existing destination files are replaced.
type Update int

const (
	UpdateAll      Update = iota // every one (cp's default)
	UpdateOlder                  // only those older than their source (-u)
	UpdateNone                   // none, skipped quietly (-n)
	UpdateNoneFail               // none, each one a failure
)

// ParseUpdate reads --update's argument.
func ParseUpdate(s string) (Update, error) {
	switch s {
	case "all":
		return UpdateAll, nil
	case "older", "":
		return UpdateOlder, nil
	case "none":
		return UpdateNone, nil
	case "none-fail":
		return UpdateNoneFail, nil
	}
	return 0, fmt.Errorf("invalid argument '%s' for '--update'; valid arguments are 'all', 'none', 'none-fail', 'older'", s)
}

// Backup is cp's --backup control: what happens to a file about to be
// replaced.
type Backup int

const (
	BackupNone     Backup = iota // no backup
	BackupSimple                 // NAME~ (SUFFIX)
	BackupNumbered               // NAME.~N~
	BackupExisting               // numbered if numbered backups exist, else simple
)

// ParseBackup reads a --backup CONTROL as cp does, VERSION_CONTROL's
// words and their abbreviations included.
func ParseBackup(s string) (Backup, error) {
	switch s {
	case "none", "off":
		return BackupNone, nil
	case "simple", "never":
		return BackupSimple, nil
	case "numbered", "t":
		return BackupNumbered, nil
	case "existing", "nil", "":
		return BackupExisting, nil
	}
	for _, w := range []struct {
		name string
		b    Backup
	}{{"none", BackupNone}, {"off", BackupNone}, {"simple", BackupSimple}, {"never", BackupSimple},
		{"numbered", BackupNumbered}, {"existing", BackupExisting}} {
		if strings.HasPrefix(w.name, s) {
			return w.b, nil
		}
	}
	return 0, fmt.Errorf("invalid argument '%s' for 'backup type'", s)
}

// Tristate is an auto|always|never choice (--reflink, --sparse).
type Tristate int

const (
	Auto Tristate = iota
	Always
	Never
)

// ParseTristate reads an auto|always|never argument of flag.
func ParseTristate(flag, s string) (Tristate, error) {
	switch s {
	case "auto":
		return Auto, nil
	case "always":
		return Always, nil
	case "never":
		return Never, nil
	}
	return 0, fmt.Errorf("invalid argument '%s' for '--%s'; valid arguments are 'auto', 'always', 'never'", s, flag)
}

// normalize turns the shorthands (-a, -n) into what they stand for.
func (o *Options) normalize() {
	if o.Archive {
		o.Recursive = true
		o.Preserve = PreserveAll
		if o.Deref == DerefDefault {
			o.Deref = DerefNever
		}
	}
	if o.NoClobber {
		o.Update = UpdateNone
	}
	if o.Update == UpdateNone {
		o.NoClobber = true
	}
	if o.BackupSuffix == "" {
		o.BackupSuffix = "~"
	}
}

// followOperand reports whether a command-line operand that is a symlink
// is followed.
func (o *Options) followOperand() bool {
	switch o.Deref {
	case DerefArgs, DerefAll:
		return true
	case DerefNever:
		return false
	}
	return !o.Recursive
}

// backupName is the backup name of name, whose directory holds names:
// NAME+suffix, or NAME.~N~ one past the highest numbered backup.
func backupName(name string, names []string, b Backup, suffix string) string {
	if b == BackupSimple {
		return name + suffix
	}
	highest := 0
	prefix := name + ".~"
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || !strings.HasSuffix(n, "~") {
			continue
		}
		if k, err := strconv.Atoi(n[len(prefix) : len(n)-1]); err == nil && k > highest {
			highest = k
		}
	}
	if b == BackupExisting && highest == 0 {
		return name + suffix
	}
	return fmt.Sprintf("%s.~%d~", name, highest+1)
}

// parentsDirs are the directories --parents creates under DEST for the
// operand src, outermost first: its whole path is kept.
func parentsDirs(src string) []string {
	var dirs []string
	for d := filepath.Dir(filepath.Clean(src)); d != "." && d != "/" && d != filepath.VolumeName(d)+string(filepath.Separator); d = filepath.Dir(d) {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) < len(dirs[j]) })
	return dirs
}
