package main

import "github.com/spf13/cobra"

// newDevices is a placeholder until the command is built.
func newDevices() *cobra.Command {
	return &cobra.Command{Use: "devices", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
