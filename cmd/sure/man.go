package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func newMan() *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write man pages for sure into DIR",
		Hidden: true,
		Args:   minArgs(1, "needs a directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			hdr := &doc.GenManHeader{Title: "SURE", Section: "1", Source: "sure " + versionString()}
			return doc.GenManTree(cmd.Root(), hdr, args[0])
		},
	}
}
