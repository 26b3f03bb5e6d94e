package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/sure-tools/sure/internal/quote"
)

func newMan() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write sure's man pages (section 1) into DIR",
		Long: `Write a man page for sure and one for each of its commands into DIR
(sure.1, sure-cp.1, ...), with the sections NAME, SYNOPSIS, DESCRIPTION,
OPTIONS, EXIT STATUS, EXAMPLES, FILES and SEE ALSO.`,
		Example: "  sure man /usr/local/share/man/man1\n  sure man /tmp/m && man /tmp/m/sure-cp.1",
		Args:    minArgs(1, "needs a directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return writeMan(cmd.Root(), args[0])
		},
	}
}

// writeMan writes one page per visible command: cobra's pages, with the
// sections cobra does not make.
func writeMan(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create directory %s: %s", quote.Name(dir), errnoText(err))
	}
	root.DisableAutoGenTag = true
	hdr := &doc.GenManHeader{Title: "SURE", Section: "1", Source: "sure " + moduleVersion(), Manual: "User Commands"}
	var walk func(*cobra.Command) error
	walk = func(c *cobra.Command) error {
		if !c.IsAvailableCommand() && c != root {
			return nil
		}
		for _, s := range c.Commands() {
			if err := walk(s); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		h := *hdr
		if err := doc.GenMan(c, &h, &b); err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, manSections(c, b.String()), 0o644); err != nil {
			return fmt.Errorf("cannot create regular file %s: %s", quote.Name(p), errnoText(err))
		}
		return nil
	}
	return walk(root)
}

// manSections renames cobra's EXAMPLE section and adds EXIT STATUS and
// FILES before it (or before SEE ALSO), in man-pages(7)'s order.
func manSections(c *cobra.Command, page string) []byte {
	page = strings.Replace(page, ".SH EXAMPLE\n", ".SH EXAMPLES\n", 1)
	extra := ".SH EXIT STATUS\n" + manExit(c) + "\n.SH FILES\n" + manFiles(c) + "\n"
	for _, at := range []string{".SH EXAMPLES\n", ".SH SEE ALSO"} {
		if i := strings.Index(page, at); i >= 0 {
			return []byte(page[:i] + extra + page[i:])
		}
	}
	return []byte(page + extra)
}

func manExit(c *cobra.Command) string {
	rows := [][2]string{
		{"0", "Everything asked for is durable (or, for the commands that only tell, the command succeeded)."},
		{"1", "Something failed; each failure is named with its cause, and what is counted as durable is durable."},
		{"2", "Usage error: nothing was written."},
	}
	switch c.Name() {
	case "cp", "mv", "verify", "write", "sure":
		rows = append(rows, [2]string{"3", "A copy read back from the device differs from its source (--verify, sure verify, sure write)."})
	}
	switch c.Name() {
	case "cp", "mv", "sure":
		rows = append(rows, [2]string{"130", "Interrupted (Ctrl-C, SIGTERM): temporary files are removed, the files already reported are durable; the same command finishes the job."})
	}
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, ".TP\n\\fB%s\\fP\n%s\n", r[0], r[1])
	}
	return b.String()
}

func manFiles(c *cobra.Command) string {
	s := ".TP\n\\fB/run/sure/flushed\\fP, \\fB$XDG_RUNTIME_DIR/sure/flushed\\fP\n" +
		"Records of drives flushed with nothing written since, read by \\fBsure status\\fP; kept for the running boot only.\n"
	switch c.Name() {
	case "cp", "mv", "sure":
		s = ".TP\n\\fBDIR/.sure-\\fP\\fIHEX\\fP\\fB.tmp\\fP\n" +
			"A file being copied, under a hidden temporary name next to its final name; it never holds a final name, and a later run into the same directory removes one left behind.\n" + s
	}
	return s
}

// examples are shown by --help and in the man pages.
var examples = map[string]string{
	"sure": `  sure cp -rv ~/Photos /media/$USER/STICK && sure eject /media/$USER/STICK`,
	"sure cp": `  sure cp -rv ~/Photos /media/$USER/STICK      # each file listed once it is durable
  sure cp -a --verify album /media/$USER/STICK  # keep modes and times, read it all back
  sure cp -a --delete --exclude '*.tmp' ~/Music/ /media/$USER/STICK/Music  # mirror, as rsync -a --delete`,
	"sure mv":     `  sure mv -v report.pdf /media/$USER/STICK     # the source goes only once the copy is durable`,
	"sure sync":   `  sure sync /media/$USER/STICK                 # flush what cp left in RAM, through the drive's cache`,
	"sure status": `  sure status /media/$USER/STICK               # is anything still unflushed?`,
	"sure verify": `  sure verify ~/Photos /media/$USER/STICK/Photos
  sure verify /media/$USER/STICK/SUMS.b3`,
	"sure devices": `  sure devices                                 # removable disks, their partitions and mounts`,
	"sure eject":   `  sure eject /media/$USER/STICK                # unmount, flush, power off: safe to pull`,
	"sure write":   `  sure write debian.iso /dev/sdb                # write an image, flush it, read it back`,
	"sure doctor":  `  sure doctor /media/$USER/STICK               # what sure can promise on this device`,
}

func addExamples(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if e, ok := examples[c.CommandPath()]; ok && c.Example == "" {
			c.Example = e
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
