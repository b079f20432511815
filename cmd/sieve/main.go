// Command sieve is Sieve's one binary: the API server, the migrator, and the tools for
// operators and scripts.
//
//	sieve serve      run the API (migrates first)
//	sieve migrate    apply schema migrations and exit
//	sieve user       manage users (add, list, set-role, set-password, disable, enable)
//	sieve import     import region boundaries, premises or the exited-enterprise register from files
//	sieve demo       load the demo city (Yuzhou) once
//	sieve worker     run the background jobs (image processing)
//	sieve upload     upload a folder of drone images to a survey
//	sieve version    print the build version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise the VCS revision.
var version = ""

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "sieve:", err)
		os.Exit(1)
	}
}

type usageError string

func (u usageError) Error() string { return string(u) }

const usage = `usage: sieve COMMAND [flags]

commands:
  serve      run the API server (applies migrations first)
  migrate    apply schema migrations and exit
  user       manage users: add, list, set-role, set-password, disable, enable
  import     import regions (GeoJSON, zipped shapefile), premises (CSV, GeoJSON) or the exited-enterprise register (CSV) from a file
  demo       load the demo city modelled on Yuzhou (once; prints the demo logins)
  worker     run the background jobs (image metadata, placement, thumbnails)
  upload     upload a folder (SD card) of drone images to a survey, resumably
  version    print the version

Configuration comes from SIEVE_* environment variables (see README.md).`

// run dispatches a subcommand. Everything it needs from the process comes in as arguments so
// that tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(usage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, getenv, stderr)
	case "migrate":
		return cmdMigrate(ctx, rest, getenv, stderr)
	case "user":
		return cmdUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "import":
		return cmdImport(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return cmdWorker(ctx, rest, getenv, stderr)
	case "upload":
		return cmdUpload(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usageError(fmt.Sprintf("sieve: unknown command %q\n\n%s", cmd, usage))
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			return rev + dirty
		}
	}
	return "dev"
}

// newLogger builds the process logger from the log config.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
