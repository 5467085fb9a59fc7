// Command crmsync ties a cloud PBX to its customers' CRMs. One binary, one
// subcommand per role, so each role can be scaled alone:
//
//	crmsync [serve]   every role in one process (the default)
//	crmsync web       HTTP API, webhooks, admin, metrics, dashboard
//	crmsync worker    asynq workers: CRM sync and push-back
//	crmsync router    the SIP smart-forwarding router
//	crmsync migrate   apply database migrations
//	crmsync tenant    create or list tenants
//	crmsync version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // schedules need IANA zones even on hosts without tzdata

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/all" // every in-tree CRM connector
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run every role in one process (the default)", runRoles(roleWeb, roleWorker, roleRouter)},
		{"web", "run the HTTP role: API, webhooks, admin, /metrics, /ops/queues", runRoles(roleWeb)},
		{"worker", "run the worker role: CRM user sync and call push-back", runRoles(roleWorker)},
		{"router", "run the SIP smart-forwarding router", runRoles(roleRouter)},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"tenant", "create or list tenants (tenant create --name N | tenant list)", runTenant},
		{"version", "print the version and exit", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status: 0 done,
// 1 failed, 2 bad usage or configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		usage(stdout)
		return 0
	}
	name := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, args, stdout)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "crmsync %s: %v\n", name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "crmsync %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "crmsync: unknown command %q\n\n", name)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: crmsync [command] [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'crmsync COMMAND --help' for a command's flags. Configuration comes from")
	fmt.Fprintln(w, "CRMSYNC_* environment variables:")
	for _, v := range config.Vars {
		fmt.Fprintf(w, "  %-36s %s\n", v.Name, v.Help)
	}
}

// usageError is a bad flag or configuration: exit status 2.
type usageError struct{ error }

// loadConfig reads the environment; a bad variable is a usage error.
func loadConfig() (config.Config, error) {
	cfg, err := config.Load(os.Getenv, connectors.Names())
	if err != nil {
		return cfg, usageError{fmt.Errorf("configuration:\n%w", err)}
	}
	return cfg, nil
}

// newFlags returns a flag set whose --help prints the summary and flags.
func newFlags(name, summary string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: crmsync %s [flags]\n\n%s\n", name, summary)
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, turning a flag error into a usage error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func runVersion(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("version", "Print the version and exit.", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "crmsync", version)
	return nil
}
