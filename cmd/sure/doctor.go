package main

import "github.com/spf13/cobra"

// newDoctor is a placeholder until the command is built.
func newDoctor() *cobra.Command {
	return &cobra.Command{Use: "doctor", Hidden: true, RunE: func(*cobra.Command, []string) error {
		return usageError{errNotYet}
	}}
}
