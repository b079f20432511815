package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/leads"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/premises"
	"github.com/sieve-city/sieve/internal/regions"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tasks"
	"github.com/sieve-city/sieve/internal/tips"
)

const importUsage = `usage: sieve import regions|premises|exited|leads [flags] FILE

  regions FILE    GeoJSON (FeatureCollection or bare array of features) or a zipped ESRI
                  Shapefile of region boundaries, applied as a whole or not at all
      --crs wgs84|cgcs2000|gcj02   coordinates' system (default: what the file declares)
      --level city|township|village|cell   level of features whose code implies none
      --parent CODE                parent of features without a parent code
      --code-field, --name-field, --level-field, --parent-field NAME   property names
  premises FILE   CSV with lon/lat columns, or GeoJSON points, all or nothing
      --crs wgs84|cgcs2000|gcj02
  leads FILE      CSV (UTF-8 or GBK) of lead data: good rows become leads and tasks, each bad
                  row is reported by line; the same file again adds nothing
      --kind KIND                  market_entity, power_user, vehicle_track (北斗/GPS points)
  exited FILE     CSV of the exited-enterprise register (附件1: 序号, 企业名称, 地址, optionally
                  统一社会信用代码, 乡镇代码, 备注), added or updated by name, all or nothing — the
                  importer of POST /api/v1/exited-enterprises/import

The report (warnings, or the errors that stopped the import) is printed as JSON.
Runs as the system (audit actor system:import).`

// cmdImport loads a boundary file or a premises file from the command line.
func cmdImport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError(importUsage)
	}
	what := args[0]
	fs := flag.NewFlagSet("sieve import "+what, flag.ContinueOnError)
	fs.SetOutput(stderr)
	crsName := fs.String("crs", "", "coordinate system: wgs84, cgcs2000 or gcj02")
	level := fs.String("level", "", "level of features whose code implies none")
	parent := fs.String("parent", "", "code of the parent region")
	codeField := fs.String("code-field", "", "property holding the code")
	nameField := fs.String("name-field", "", "property holding the name")
	levelField := fs.String("level-field", "", "property holding the level")
	parentField := fs.String("parent-field", "", "property holding the parent code")
	kind := fs.String("kind", "", "kind of lead data (leads)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 ||
		(what != "regions" && what != "premises" && what != "exited" && what != "leads") || (what == "leads") != (*kind != "") {
		return usageError(importUsage)
	}
	// Leads stream from the file (a track file may be far larger than memory); the rest is read whole.
	var data []byte
	var file *os.File
	var err error
	if what == "leads" {
		file, err = os.Open(fs.Arg(0))
		if err == nil {
			defer file.Close()
		}
	} else {
		data, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return err
	}
	var crs gis.CRS
	if *crsName != "" {
		if crs, err = gis.ParseCRS(*crsName); err != nil {
			return usageError(err.Error())
		}
	}
	a, err := open(ctx, getenv, stderr, false)
	if err != nil {
		return err
	}
	defer a.close()
	if _, err := db.Migrate(ctx, a.pool, a.log); err != nil {
		return err
	}
	ps := premises.NewStore()
	rs := a.regionStore(ps)
	var report any
	switch what {
	case "regions":
		opt := regions.ImportOptions{CRS: crs, CodeField: *codeField, NameField: *nameField,
			LevelField: *levelField, ParentField: *parentField}
		if *level != "" {
			if opt.Level, err = regions.ParseLevel(*level); err != nil {
				return usageError(err.Error())
			}
		}
		features, err := rs.ReadFeatures(ctx, data, crs)
		if err != nil {
			return printRejection(stdout, err)
		}
		err = db.AsSystem(ctx, a.pool, "import", func(tx pgx.Tx) error {
			if *parent != "" {
				if err := tx.QueryRow(ctx, `SELECT id FROM regions WHERE code = $1`, *parent).Scan(&opt.ParentID); err != nil {
					return fmt.Errorf("parent %q: %w", *parent, db.MapError(err))
				}
			}
			rep, err := rs.Import(ctx, tx, features, opt)
			report = rep
			return err
		})
		if err != nil {
			return printRejection(stdout, err)
		}
	case "leads":
		ls := a.leadsService(a.sitesService())
		err = db.AsSystem(ctx, a.pool, "import", func(tx pgx.Tx) error {
			rep, err := ls.Import(ctx, tx, *kind, filepath.Base(fs.Arg(0)), file, 0)
			report = rep
			return err
		})
		if err != nil {
			return printRejection(stdout, err)
		}
	case "premises":
		var batch *premises.Batch
		if t := strings.TrimLeft(string(data[:min(len(data), 64)]), "\ufeff \t\r\n"); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			batch, err = premises.ParseGeoJSON(data, crs)
		} else {
			batch, err = premises.ParseCSV(data, crs)
		}
		if err != nil {
			return printRejection(stdout, err)
		}
		err = db.AsSystem(ctx, a.pool, "import", func(tx pgx.Tx) error {
			rep, err := ps.Import(ctx, tx, batch, 0)
			report = rep
			return err
		})
		if err != nil {
			return printRejection(stdout, err)
		}
	case "exited":
		err = db.AsSystem(ctx, a.pool, "import", func(tx pgx.Tx) error {
			rep, err := sites.Store{}.ImportExited(ctx, tx, data)
			report = rep
			return err
		})
		if err != nil {
			return printRejection(stdout, err)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(report)
}

// printRejection prints the report of a rejected import and returns the error.
func printRejection(w io.Writer, err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Details != nil {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(ae.Details)
		return fmt.Errorf("import rejected: %s", ae.Message)
	}
	return err
}

// regionStore is the binary's region store, given the placers of everything that lives in grid
// cells: the one list of them for serve, import and demo (api.New's default is the same, with
// the default settings).
func (a *app) regionStore(ps *premises.Store) *regions.Store {
	return regions.NewStore(ps, media.NewPlacer(), sites.Placer{}, tasks.Placer{}, leads.Placer{},
		tips.Placer{VerifyDays: a.cfg.Tips.VerifyDays})
}
