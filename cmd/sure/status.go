package main

import "github.com/spf13/cobra"

// newStatus is a placeholder until the command is built.
func newStatus() *cobra.Command {
	return &cobra.Command{Use: "status", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
