package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
)

const userUsage = `usage: sieve user COMMAND [flags]

  add --username NAME --role ROLE [--region CODE] [--display-name NAME] --password-stdin
  list
  set-role --username NAME --role ROLE [--region CODE]
  set-password --username NAME --password-stdin
  disable --username NAME
  enable --username NAME

Passwords are read from standard input (one line), never from the command line.
--region is the region code (e.g. 411081100 for 火龙镇) of the user's scope.`

// cmdUser manages users from the command line, as the system (for the first administrator and
// for scripts). Every change is in the audit log as system:cli.
func cmdUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(userUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet("sieve user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "login name")
	role := fs.String("role", "", "role: "+joinRoles())
	region := fs.String("region", "", "region code of the user's scope")
	display := fs.String("display-name", "", "display name")
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(userUsage)
	}
	readPassword := func() (string, error) {
		if !*pwStdin {
			return "", usageError("sieve user: --password-stdin is required (passwords are never taken from arguments)")
		}
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}

	a, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := db.Migrate(ctx, a.pool, a.log); err != nil {
		return err
	}
	store := a.accounts()
	asCLI := func(fn func(tx pgx.Tx) error) error { return db.AsSystem(ctx, a.pool, "cli", fn) }
	regionID := func(tx pgx.Tx) (*int64, error) {
		if *region == "" {
			return nil, nil
		}
		var id int64
		if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = $1`, *region).Scan(&id); err != nil {
			return nil, fmt.Errorf("region %q: %w", *region, db.MapError(err))
		}
		return &id, nil
	}
	need := func(v, name string) error {
		if v == "" {
			return usageError("sieve user " + sub + ": --" + name + " is required\n\n" + userUsage)
		}
		return nil
	}

	switch sub {
	case "add":
		if err := errors.Join(need(*username, "username"), need(*role, "role")); err != nil {
			return err
		}
		pw, err := readPassword()
		if err != nil {
			return err
		}
		return asCLI(func(tx pgx.Tx) error {
			rid, err := regionID(tx)
			if err != nil {
				return err
			}
			u, err := store.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: *username, Password: pw,
				Role: accounts.Role(*role), RegionID: rid, DisplayName: *display})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s (id %d) added as %s\n", u.Username, u.ID, u.Role)
			return nil
		})
	case "list":
		return asCLI(func(tx pgx.Tx) error {
			users, err := store.List(ctx, tx, accounts.ListFilter{Limit: 100000})
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tUSERNAME\tROLE\tREGION\tCELLS\tDISABLED")
			for _, u := range users {
				rid := "-"
				if u.RegionID != nil {
					rid = fmt.Sprint(*u.RegionID)
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%t\n", u.ID, u.Username, u.Role, rid, len(u.CellIDs), u.Disabled)
			}
			return w.Flush()
		})
	case "set-role", "set-password", "disable", "enable":
		if err := need(*username, "username"); err != nil {
			return err
		}
		var patch accounts.UserPatch
		switch sub {
		case "set-role":
			if err := need(*role, "role"); err != nil {
				return err
			}
			r := accounts.Role(*role)
			patch.Role = &r
		case "set-password":
			pw, err := readPassword()
			if err != nil {
				return err
			}
			patch.Password = &pw
		case "disable", "enable":
			d := sub == "disable"
			patch.Disabled = &d
		}
		return asCLI(func(tx pgx.Tx) error {
			u, err := store.GetByUsername(ctx, tx, *username)
			if err != nil {
				return err
			}
			if patch.RegionID, err = regionID(tx); err != nil {
				return err
			}
			u, err = store.Update(ctx, tx, accounts.CityAdmin, u.ID, patch)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s: %s done\n", u.Username, sub)
			return nil
		})
	}
	return usageError(userUsage)
}

func joinRoles() string {
	var s []string
	for _, r := range accounts.Roles {
		s = append(s, string(r))
	}
	return strings.Join(s, ", ")
}
