package accounts

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestHasher(t *testing.T) {
	h := NewHasher(HashParams{MemoryKiB: 1024, Time: 1, Threads: 1}, 2)
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id hash: %s", hash)
	}
	again, _ := h.Hash(ctx, "correct horse battery")
	if again == hash {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}}
	for _, tt := range tests {
		ok, err := h.Verify(ctx, hash, tt.pw)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
	// Hashes made with other parameters still verify (parameters live in the hash).
	strong := NewHasher(HashParams{MemoryKiB: 2048, Time: 2, Threads: 1}, 1)
	if ok, _ := strong.Verify(ctx, hash, "correct horse battery"); !ok {
		t.Fatal("verification depends on the hasher's current parameters")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", h.dummy[:20]} {
		if _, err := h.Verify(ctx, bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

func TestRoleGrants(t *testing.T) {
	tests := []struct {
		role Role
		perm Permission
		want bool
	}{
		{CityAdmin, PermManageUsers, true},
		{TownshipCoordinator, PermManageUsers, true},
		{GridWorker, PermManageUsers, false},
		{GridWorker, PermInspect, true},
		{GridWorker, PermManagePremises, false},
		{DroneOperator, PermManageSurveys, true},
		{DroneOperator, PermInspect, false},
		{Inspector, PermActOnSites, true},
		{Inspector, PermManageSites, false},
		{Viewer, PermRead, true},
		{Viewer, PermUploadMedia, false},
		{Viewer, PermAuthenticated, true},
		{Role("intruder"), PermAuthenticated, false},
		{Role("intruder"), PermRead, false},
	}
	for _, tt := range tests {
		if got := tt.role.Can(tt.perm); got != tt.want {
			t.Errorf("%s.Can(%s) = %v, want %v", tt.role, tt.perm, got, tt.want)
		}
	}
	if TownshipCoordinator.CanGrant(CityAdmin) || TownshipCoordinator.CanGrant(TownshipCoordinator) || !TownshipCoordinator.CanGrant(GridWorker) {
		t.Error("coordinator grants wrong roles")
	}
	if GridWorker.CanGrant(Viewer) {
		t.Error("grid worker can grant roles")
	}
}

func TestPrincipalCache(t *testing.T) {
	now := time.Date(2026, 4, 6, 8, 0, 0, 0, time.UTC)
	c := newPrincipalCache(10*time.Second, func() time.Time { return now })
	h := []byte("hash")
	c.put(h, Principal{UserID: 7}, now.Add(time.Hour), c.generation())
	if p, ok := c.get(h); !ok || p.UserID != 7 {
		t.Fatal("cached principal not found")
	}
	now = now.Add(11 * time.Second)
	if _, ok := c.get(h); ok {
		t.Fatal("entry outlived the cache TTL")
	}
	c.put(h, Principal{UserID: 7}, now.Add(time.Second), c.generation()) // token expires before the TTL
	now = now.Add(2 * time.Second)
	if _, ok := c.get(h); ok {
		t.Fatal("entry outlived its token")
	}
	c.put(h, Principal{UserID: 7}, now.Add(time.Hour), c.generation())
	c.drop(h)
	if _, ok := c.get(h); ok {
		t.Fatal("dropped entry still cached")
	}
	var nilCache *principalCache
	nilCache.put(h, Principal{}, now, 0)
	if _, ok := nilCache.get(h); ok {
		t.Fatal("nil cache cached")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{"1234567": false, "12345678": true, "密码密码密码密码": true, strings.Repeat("a", 129): false} {
		if err := CheckPasswordPolicy(pw); (err == nil) != ok {
			t.Errorf("policy(%q) = %v", pw, err)
		}
	}
}
