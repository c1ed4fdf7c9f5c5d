// Package cmdline parses the command line every binary of the system
// takes: -version, then an optional subcommand (healthcheck, the worker's
// migrate) and its own arguments. Without a subcommand a binary runs its
// service.
package cmdline

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"livevote/shared/buildinfo"
)

// Line is what a command line asks for.
type Line struct {
	// Subcommand is the first argument after the flags; "" runs the service.
	Subcommand string
	// Args are the arguments after the subcommand, for it to parse.
	Args []string
	// Done reports that Parse answered the command line itself (-version,
	// -h): the binary exits 0 without doing anything else.
	Done bool
}

// Parse reads args (os.Args: the program's path first; nil or empty runs
// the service, as tests call run). -version prints "<program> <version>
// (revision …, go…)" to stdout, -h the usage; a subcommand other than
// those given, or a flag Parse does not know, is an error saying the
// usage.
func Parse(program string, args []string, stdout io.Writer, subcommands ...string) (Line, error) {
	usage := "usage: " + program + " [-version]"
	if len(subcommands) > 0 {
		usage += " [" + strings.Join(subcommands, " | ") + "]"
	}
	flags := flag.NewFlagSet(program, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	version := flags.Bool("version", false, "print the version and exit")
	if len(args) > 1 {
		if err := flags.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				_, err := fmt.Fprintf(stdout, "%s\n  -version\tprint the version and exit\n", usage)
				return Line{Done: true}, err
			}
			return Line{}, fmt.Errorf("%w; %s", err, usage)
		}
	}
	if *version {
		_, err := fmt.Fprintf(stdout, "%s %s\n", program, buildinfo.Get())
		return Line{Done: true}, err
	}
	if flags.NArg() == 0 {
		return Line{}, nil
	}
	if sub := flags.Arg(0); slices.Contains(subcommands, sub) {
		return Line{Subcommand: sub, Args: flags.Args()[1:]}, nil
	}
	return Line{}, fmt.Errorf("unknown arguments %q; %s", flags.Args(), usage)
}
