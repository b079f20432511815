package accounts_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/testenv"
)

// TestLoginIsAudited: a login writes one entry (through package audit) naming the user, their
// area and their address; a failed login writes none.
func TestLoginIsAudited(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	s := accounts.NewStore(accounts.NewHasher(accounts.HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2), time.Hour, 0, time.Now)
	const pw = "a long password"
	var user accounts.User
	var townshipPath string
	err := db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		var city, township int64
		if err := tx.QueryRow(ctx, `INSERT INTO regions (level, code, name) VALUES ('city', '411081', '禹州市') RETURNING id`).Scan(&city); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO regions (parent_id, level, code, name) VALUES ($1, 'township', '411081100', '火龙镇')
			RETURNING id, path::text`, city).Scan(&township, &townshipPath); err != nil {
			return err
		}
		var err error
		user, err = s.Create(ctx, tx, accounts.CityAdmin, accounts.NewUser{Username: "zhang", Password: pw,
			Role: accounts.TownshipCoordinator, RegionID: &township})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Login(ctx, pool, "zhang", "not the password", "192.0.2.7", "test"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if _, _, _, err := s.Login(ctx, pool, "zhang", pw, "192.0.2.7", "test"); err != nil {
		t.Fatal(err)
	}
	var (
		n                                     int
		userID                                *int64
		actor, entityID, path, addr, entityOf string
	)
	err = db.AsSystem(ctx, pool, "test", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) OVER (), user_id, actor, entity, entity_id, coalesce(region_path::text, ''), remote_addr
			FROM audit_log WHERE action = 'login'`).Scan(&n, &userID, &actor, &entityOf, &entityID, &path, &addr)
	})
	if err != nil {
		t.Fatalf("no login entry: %v", err)
	}
	if n != 1 || userID == nil || *userID != user.ID || actor != "zhang" || entityOf != "session" || entityID != strconv.FormatInt(user.ID, 10) ||
		path != townshipPath || addr != "192.0.2.7" {
		t.Errorf("login entries: %d; user %v actor %q entity %s/%s area %q address %q; want 1, user %d, zhang, session/%d, %s, 192.0.2.7",
			n, userID, actor, entityOf, entityID, path, addr, user.ID, user.ID, townshipPath)
	}
}
