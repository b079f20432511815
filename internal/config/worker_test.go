package config

import (
	"strings"
	"testing"
)

// TestWorkerAndPublicURL covers the settings of the media issue: the in-process worker, its
// concurrency, and the public address of the object store.
func TestWorkerAndPublicURL(t *testing.T) {
	c, err := Load(env(map[string]string{}))
	if err != nil || !c.Worker.InProcess || c.Worker.Concurrency != 4 || c.S3.PublicURL != "" {
		t.Fatalf("defaults: %+v %+v %v", c.Worker, c.S3, err)
	}
	c, err = Load(env(map[string]string{"SIEVE_WORKER_INPROCESS": "false", "SIEVE_WORKER_CONCURRENCY": "8",
		"SIEVE_S3_PUBLIC_URL": "https://files.example.org"}))
	if err != nil || c.Worker.InProcess || c.Worker.Concurrency != 8 || c.S3.PublicURL != "https://files.example.org" {
		t.Fatalf("values: %+v %+v %v", c.Worker, c.S3, err)
	}
	for key, value := range map[string]string{"SIEVE_WORKER_CONCURRENCY": "0", "SIEVE_S3_PUBLIC_URL": "files.example.org",
		"SIEVE_WORKER_INPROCESS": "maybe"} {
		if _, err := Load(env(map[string]string{key: value})); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: %v", key, value, err)
		}
	}
}
