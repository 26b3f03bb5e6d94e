package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// markUsage makes every complaint about the command line a usageError:
// cobra returns its own (unknown command, wrong argument count) as plain
// errors, so each command's argument check is wrapped once the tree is
// complete, and the root reports an unknown command itself.
func markUsage(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	root.SuggestionsMinimumDistance = 2
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return usageError{tryHelp{errors.New(msg), cmd.CommandPath()}}
	}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if check := c.Args; check != nil && c != root {
			c.Args = func(cmd *cobra.Command, args []string) error {
				err := check(cmd, args)
				if err == nil || errors.As(err, new(usageError)) {
					return err
				}
				return usageError{tryHelp{fmt.Errorf("%s: %w", cmd.Name(), err), cmd.CommandPath()}}
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// tryHelp is a usage error followed by coreutils' pointer to the help.
type tryHelp struct {
	err  error
	path string // the command's path, "sure cp"
}

func (e tryHelp) Error() string {
	return fmt.Sprintf("%v\nTry '%s --help' for more information.", e.err, e.path)
}

func (e tryHelp) Unwrap() error { return e.err }
