package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

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
	page = replaceSection(page, ".SH OPTIONS\n", manOptions(c.NonInheritedFlags()))
	page = replaceSection(page, ".SH OPTIONS INHERITED FROM PARENT COMMANDS\n", manOptions(c.InheritedFlags()))
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

// replaceSection puts body under the heading sh, in place of what was
// there up to the next section.
func replaceSection(page, sh, body string) string {
	i := strings.Index(page, sh)
	if i < 0 {
		return page
	}
	start := i + len(sh)
	end := strings.Index(page[start:], "\n.SH ")
	if end < 0 {
		end = len(page) - start
	} else {
		end++ // keep the newline before the next heading
	}
	return page[:start] + body + "\n" + page[start+end:]
}

// manOptions lists flags as --help shows them, in man's words: cobra's
// own pages print every flag with its default as if it took one
// ("--verbose[=false]", "--reflink[="auto"]" where alone it means always).
func manOptions(flags *pflag.FlagSet) string {
	var b strings.Builder
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Deprecated != "" {
			return
		}
		arg, usage := pflag.UnquoteUsage(f)
		b.WriteString(".TP\n")
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			fmt.Fprintf(&b, "\\fB-%s\\fP, ", f.Shorthand)
		}
		fmt.Fprintf(&b, "\\fB--%s\\fP", manEscape(f.Name))
		switch {
		case arg == "":
		case f.NoOptDefVal != "":
			fmt.Fprintf(&b, "[=\\fI%s\\fP]", manEscape(arg))
			usage += fmt.Sprintf("; without =%s: %s", arg, f.NoOptDefVal)
		default:
			fmt.Fprintf(&b, "=\\fI%s\\fP", manEscape(arg))
		}
		switch f.DefValue {
		case "", "false", "0", "[]", "<nil>":
		default:
			if arg != "" {
				usage += fmt.Sprintf(" (default %q)", f.DefValue)
			}
		}
		fmt.Fprintf(&b, "\n%s\n", manEscape(usage))
	})
	return b.String()
}

// manEscape keeps roff from reading text as requests or escapes.
func manEscape(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\e")
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}
