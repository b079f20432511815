package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sieve-city/sieve/internal/testenv"
)

func TestUserCommand(t *testing.T) {
	url := testenv.DatabaseURL(t)
	env := envOf("SIEVE_DB_URL", url, "SIEVE_LOG_LEVEL", "error")
	ctx := context.Background()
	sieve := func(stdin string, args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(ctx, args, env, strings.NewReader(stdin), &out, &errb)
		return out.String() + errb.String(), err
	}
	if out, err := sieve("first-admin-pw\n", "user", "add", "--username", "admin", "--role", "city_admin", "--password-stdin"); err != nil {
		t.Fatalf("add: %v %s", err, out)
	}
	if _, err := sieve("", "user", "add", "--username", "noname", "--role", "city_admin", "--password", "x"); err == nil {
		t.Fatal("password accepted from argv")
	}
	if _, err := sieve("", "user", "add", "--username", "admin2", "--role", "city_admin"); err == nil {
		t.Fatal("add without --password-stdin succeeded")
	}
	if out, err := sieve("short\n", "user", "add", "--username", "weak", "--role", "city_admin", "--password-stdin"); err == nil {
		t.Fatalf("weak password accepted: %s", out)
	}
	if out, err := sieve("", "user", "add", "--username", "v", "--role", "viewer", "--region", "999", "--password-stdin"); err == nil {
		t.Fatalf("unknown region accepted: %s", out)
	}
	if out, err := sieve("", "user", "disable", "--username", "admin"); err != nil {
		t.Fatalf("disable: %v %s", err, out)
	}
	out, err := sieve("", "user", "list")
	if err != nil || !strings.Contains(out, "admin") || !strings.Contains(out, "city_admin") || !strings.Contains(out, "true") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := sieve("another-long-pw\n", "user", "set-password", "--username", "admin", "--password-stdin"); err != nil {
		t.Fatalf("set-password: %v %s", err, out)
	}
}
