package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sure-tools/sure/copier"
	"github.com/sure-tools/sure/filter"
	"github.com/sure-tools/sure/internal/quote"
)

// filterFlags are rsync's filter options. All of them add to one list in
// the order given, since the first rule that matches decides; the list
// is made before the job runs (PreRunE), so that a bad rule or an
// unreadable rule file is told in sure's words, not as a flag's syntax.
func filterFlags(cmd *cobra.Command, opt *copier.Options) {
	f := cmd.Flags()
	type rule struct {
		do  func(l *filter.List, s string) error
		arg string
	}
	var rules []rule
	add := func(name, usage string, do func(l *filter.List, s string) error) {
		flagFunc(f, name, "", "", usage, func(s string) error {
			rules = append(rules, rule{do, s})
			return nil
		})
	}
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if len(rules) == 0 {
			return nil
		}
		opt.Filter = &filter.List{}
		for _, r := range rules {
			if err := r.do(opt.Filter, r.arg); err != nil {
				return filterError(cmd.Name(), err)
			}
		}
		return nil
	}
	add("exclude", "leave out files matching `PATTERN` (rsync's rules; the first rule that matches decides)", (*filter.List).Exclude)
	add("include", "do not leave out files matching `PATTERN`", (*filter.List).Include)
	add("exclude-from", "read exclude patterns from `FILE`, one a line ('-' is stdin)", (*filter.List).ExcludeFrom)
	add("include-from", "read include patterns from `FILE`, one a line", (*filter.List).IncludeFrom)
	add("filter", "add a filter `RULE`: '- PATTERN', '+ PATTERN', 'exclude PATTERN', 'include PATTERN', 'merge FILE' ('. FILE'), 'clear'", (*filter.List).Rule)
	f.BoolVar(&opt.Delete, "delete", false, "mirror: once the whole copy is durable, remove destination files the source directory lacks (excluded ones are kept)")
	if cmd.Name() == "mv" {
		// Refused with a reason by the copier, rather than as unknown.
		f.Lookup("delete").Hidden = true
	}
}

// filterError is a filter rule's failure, in coreutils' words for a file
// that cannot be opened.
func filterError(verb string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "open" {
		return usageError{fmt.Errorf("%s: cannot open %s for reading: %s", verb, quote.Name(pe.Path), errnoText(pe.Err))}
	}
	return usageError{fmt.Errorf("%s: %s", verb, quote.Line(err.Error()))}
}

// Removed tells, with -v, what --delete removed, as rm -v does.
func (r *cpReporter) Removed(dst string, dir bool) {
	if !r.verbose {
		return
	}
	if dir {
		fmt.Fprintf(r.out, "removed directory %s\n", quote.Name(dst))
		return
	}
	fmt.Fprintf(r.out, "removed %s\n", quote.Name(dst))
}

func (d *dryReporter) Removed(dst string, dir bool) {
	if dir {
		fmt.Fprintf(d.out, "would remove directory %s\n", quote.Name(dst))
		return
	}
	fmt.Fprintf(d.out, "would remove %s\n", quote.Name(dst))
}

func (u *ui) Removed(dst string, dir bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.start()
	u.rep.Removed(dst, dir)
	if u.json != nil {
		u.json.emit("removed", jsonRemoved{Path: dst, PathB64: raw64(dst), Dir: dir})
	}
}

type jsonRemoved struct {
	Path    string `json:"path"`
	PathB64 string `json:"path_b64,omitempty"`
	Dir     bool   `json:"dir,omitempty"`
}

func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}
