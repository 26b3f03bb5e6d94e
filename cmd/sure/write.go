package main

import "github.com/spf13/cobra"

// newWrite is a placeholder until the command is built.
func newWrite() *cobra.Command {
	return &cobra.Command{Use: "write", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
