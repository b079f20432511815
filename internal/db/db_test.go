package db

import (
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sieve-city/sieve/internal/apperr"
)

func TestLoadMigrations(t *testing.T) {
	ms, err := loadMigrations(fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("SELECT 2")},
		"m/0001_a.sql": {Data: []byte("SELECT 1")},
		"m/0010_c.sql": {Data: []byte("SELECT 10")},
		"m/README.txt": {Data: []byte("not a migration")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[2].Name != "c" {
		t.Fatalf("wrong order or parse: %+v", ms)
	}
	for name, fs := range map[string]fstest.MapFS{
		"duplicate version": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
		"no number":         {"m/init.sql": {}},
		"zero":              {"m/0000_zero.sql": {}},
	} {
		if _, err := loadMigrations(fs, "m"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestEmbeddedMigrationsStartWithPostGIS(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 || ms[0].Name != "postgis" {
		t.Fatalf("first migration is not PostGIS: %+v", ms[0])
	}
}

func TestMapError(t *testing.T) {
	tests := []struct {
		err  error
		want *apperr.Error
	}{
		{pgx.ErrNoRows, apperr.ErrNotFound},
		{&pgconn.PgError{Code: "23505"}, apperr.ErrConflict},
		{&pgconn.PgError{Code: "23514"}, apperr.ErrInvalid},
		{&pgconn.PgError{Code: "22001"}, apperr.ErrInvalid},
		{&pgconn.PgError{Code: "42501"}, apperr.ErrNotFound},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "23503"}), apperr.ErrNotFound},
	}
	for _, tt := range tests {
		if got := MapError(tt.err); !errors.Is(got, tt.want) {
			t.Errorf("MapError(%v) = %v, want %s", tt.err, got, tt.want.Code)
		}
	}
	other := errors.New("connection refused")
	if MapError(other) != other {
		t.Error("unrelated error changed")
	}
	if MapError(nil) != nil {
		t.Error("nil changed")
	}
}

func TestValidPath(t *testing.T) {
	for p, ok := range map[string]bool{"1": true, "1.23.456": true, "": false, "1..2": false, "1.a": false, "1;DROP": false, "1,2": false} {
		if validPath(p) != ok {
			t.Errorf("validPath(%q) != %v", p, ok)
		}
	}
}
