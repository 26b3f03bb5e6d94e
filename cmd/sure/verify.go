package main

import "github.com/spf13/cobra"

// newVerify is a placeholder until the command is built.
func newVerify() *cobra.Command {
	return &cobra.Command{Use: "verify", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
