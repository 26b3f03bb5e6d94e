package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/internal/quote"
)

// funcValue is a flag whose every occurrence runs set at once, so that
// flags that override each other (-a then --no-preserve, -n then -i)
// take effect in the order given, as GNU's do.
type funcValue struct {
	set     func(string) error
	typ     string
	current string
}

func (v *funcValue) String() string { return v.current }
func (v *funcValue) Type() string   { return v.typ }
func (v *funcValue) Set(s string) error {
	v.current = s
	return v.set(s)
}

// flagFunc defines a flag run by set; def, when not "", is the value of
// the flag given without one (--update, -p), which makes its argument
// optional.
func flagFunc(f *pflag.FlagSet, name, short, def, usage string, set func(string) error) *pflag.Flag {
	typ := "string"
	if def == "true" {
		typ = "bool"
	}
	fl := f.VarPF(&funcValue{set: set, typ: typ}, name, short, usage)
	fl.NoOptDefVal = def
	return fl
}

// replaceFlags are -f, -i and -n, of which the last one given decides
// for mv; for cp -f only makes sure a file is replaced (sure always
// replaces by rename) and -i and -n override each other.
type replaceFlags struct {
	last string // "f", "i", "n" or ""
	mv   bool
}

func (rf *replaceFlags) apply(opt *copier.Options, in io.Reader, errOut io.Writer, verb string) {
	opt.NoClobber = rf.last == "n"
	if rf.last == "i" {
		r := bufio.NewReader(in)
		opt.Confirm = func(dst string) bool {
			fmt.Fprintf(errOut, "sure: %s: overwrite %s? ", verb, quote.Name(dst))
			line, _ := r.ReadString('\n')
			line = strings.TrimSpace(line)
			return strings.HasPrefix(line, "y") || strings.HasPrefix(line, "Y")
		}
	}
}

// gnuJobFlags are the flags of GNU cp and mv that sure's cp and mv share.
// It returns what turns them into Options once the command line is parsed.
func gnuJobFlags(cmd *cobra.Command, opt *copier.Options, mv bool) func(verb string) error {
	f := cmd.Flags()
	rf := &replaceFlags{mv: mv}
	flagFunc(f, "force", "f", "true", "replace an existing destination file without asking (overrides an earlier -i or -n for mv)", func(string) error {
		if mv || rf.last != "n" {
			rf.last = "f"
		}
		return nil
	})
	flagFunc(f, "interactive", "i", "true", "ask before replacing a file (on stderr; the answer is read from stdin)", func(string) error {
		rf.last = "i"
		return nil
	})
	flagFunc(f, "no-clobber", "n", "true", "never replace an existing file", func(string) error {
		rf.last = "n"
		return nil
	})
	flagFunc(f, "update", "u", "older", "replace only destination files older than their source; `UPDATE` all, none, none-fail or older (the default)", func(s string) error {
		u, err := copier.ParseUpdate(s)
		opt.Update = u
		return err
	})
	var backup, backupSet bool
	var control string
	flagFunc(f, "backup", "", "$VERSION_CONTROL", "make a backup of each existing destination file; `CONTROL` none, numbered, existing or simple (by default VERSION_CONTROL's, else existing)", func(s string) error {
		backup, backupSet, control = true, true, s
		return nil
	})
	flagFunc(f, "b", "b", "true", "like --backup but does not accept an argument", func(string) error {
		backup = true
		return nil
	}).Hidden = true
	f.StringVarP(&opt.BackupSuffix, "suffix", "S", "", "override the usual backup `SUFFIX` (~)")
	f.BoolVar(&opt.DryRun, "dry-run", false, "say what would be done (after the pre-flight), write nothing")
	var target string
	f.StringVarP(&target, "target-directory", "t", "", "copy all SOURCE arguments into `DIRECTORY`")
	f.BoolVarP(&opt.NoTargetDir, "no-target-directory", "T", false, "treat DEST as a normal file")
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		n := 2
		if target != "" {
			n = 1
		}
		if len(args) < n {
			return usageError{fmt.Errorf("%s: needs a source and a destination\nUsage: %s", cmd.Name(), cmd.UseLine())}
		}
		return nil
	}
	return func(verb string) error {
		rf.apply(opt, cmd.InOrStdin(), cmd.ErrOrStderr(), verb)
		if f.Changed("suffix") {
			backup = true
		} else if s := os.Getenv("SIMPLE_BACKUP_SUFFIX"); s != "" {
			opt.BackupSuffix = s
		}
		if backup {
			if !backupSet || control == "$VERSION_CONTROL" {
				control = os.Getenv("VERSION_CONTROL")
			}
			b, err := copier.ParseBackup(control)
			if err != nil {
				return usageError{fmt.Errorf("%s: %v", verb, err)}
			}
			opt.Backup = b
			if b != copier.BackupNone && opt.NoClobber {
				return usageError{fmt.Errorf("%s: options --backup and --no-clobber are mutually exclusive", verb)}
			}
		}
		if target != "" {
			if opt.NoTargetDir {
				return usageError{fmt.Errorf("%s: cannot combine --target-directory (-t) and --no-target-directory (-T)", verb)}
			}
			fi, err := os.Stat(target)
			if err != nil {
				return usageError{fmt.Errorf("%s: target directory %s: %w", verb, quote.Name(target), err)}
			}
			if !fi.IsDir() {
				return usageError{fmt.Errorf("%s: target %s is not a directory", verb, quote.Name(target))}
			}
		}
		return nil
	}
}

// withTarget appends -t's directory to the operands, as DEST.
func withTarget(cmd *cobra.Command, args []string) []string {
	if t, _ := cmd.Flags().GetString("target-directory"); t != "" {
		return append(append([]string(nil), args...), t)
	}
	return args
}

// cpOnlyFlags are GNU cp's flags that mv has no use for.
func cpOnlyFlags(cmd *cobra.Command, opt *copier.Options) func() error {
	f := cmd.Flags()
	preserve := func(set bool) func(string) error {
		return func(s string) error { return copier.ParsePreserve(&opt.Preserve, s, set) }
	}
	flagFunc(f, "archive", "a", "true", "same as -dR --preserve=all: keep mode, owner (as root), times, hard links, xattrs; copy symlinks as symlinks", func(string) error {
		opt.Recursive, opt.Preserve, opt.Deref = true, copier.PreserveAll, copier.DerefNever
		return nil
	})
	flagFunc(f, "p", "p", "true", "same as --preserve=mode,ownership,timestamps", func(string) error {
		return preserve(true)("mode,ownership,timestamps")
	}).Hidden = true
	flagFunc(f, "preserve", "", "mode,ownership,timestamps", "keep the attributes of `LIST`: mode, ownership, timestamps, links, xattr, all", preserve(true))
	flagFunc(f, "no-preserve", "", "", "do not keep the attributes of `LIST`", preserve(false))
	flagFunc(f, "d", "d", "true", "same as --no-dereference --preserve=links", func(string) error {
		opt.Deref, opt.Preserve.Links = copier.DerefNever, true
		return nil
	}).Hidden = true
	deref := func(d copier.Deref) func(string) error {
		return func(string) error { opt.Deref = d; return nil }
	}
	flagFunc(f, "dereference", "L", "true", "always follow symbolic links in SOURCE", deref(copier.DerefAll))
	flagFunc(f, "no-dereference", "P", "true", "never follow symbolic links in SOURCE", deref(copier.DerefNever))
	flagFunc(f, "H", "H", "true", "follow command-line symbolic links in SOURCE", deref(copier.DerefArgs)).Hidden = true
	f.BoolVar(&opt.Parents, "parents", false, "use the full source file name under DIRECTORY")
	f.BoolVarP(&opt.OneFileSystem, "one-file-system", "x", false, "stay on this file system")
	var reflink, sparse string
	f.StringVar(&reflink, "reflink", "auto", "clone the data where the file systems can share it: `WHEN` auto, always or never")
	f.Lookup("reflink").NoOptDefVal = "always"
	f.StringVar(&sparse, "sparse", "auto", "make holes: `WHEN` auto (where the source has them), always (for zeros too) or never")
	f.BoolVar(&opt.Checksum, "checksum", false, "keep an existing file of the source's size if it holds the same bytes, instead of replacing it")
	f.BoolVar(&opt.QuickCheck, "quick-check", false, "keep an existing file of the source's size and modification time (rsync's quick check), instead of replacing it")
	f.BoolVar(&opt.SizeOnly, "size-only", false, "keep an existing file of the source's size, instead of replacing it")
	return func() error {
		var err error
		if opt.Reflink, err = copier.ParseTristate("reflink", reflink); err != nil {
			return usageError{fmt.Errorf("cp: %v", err)}
		}
		if opt.Sparse, err = copier.ParseTristate("sparse", sparse); err != nil {
			return usageError{fmt.Errorf("cp: %v", err)}
		}
		return nil
	}
}
