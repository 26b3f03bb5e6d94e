package main

import "github.com/spf13/cobra"

// newEject is a placeholder until the command is built.
func newEject() *cobra.Command {
	return &cobra.Command{Use: "eject", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
