package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != "127.0.0.1:8080" || c.S3.BucketMedia != "sieve-media" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestLoadValues(t *testing.T) {
	c, err := Load(env(map[string]string{
		"SIEVE_HTTP_ADDR":         ":9090",
		"SIEVE_HTTP_READ_TIMEOUT": "30s",
		"SIEVE_HTTP_BODY_LIMIT":   "2MB",
		"SIEVE_DB_MAX_CONNS":      "7",
		"SIEVE_S3_USE_SSL":        "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Addr != ":9090" || c.HTTP.ReadTimeout != 30*time.Second || c.HTTP.BodyLimit != 2<<20 ||
		c.DB.MaxConns != 7 || !c.S3.UseSSL {
		t.Fatalf("values not read: %+v", c)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	tests := []struct {
		name, key, value string
	}{
		{"bad duration", "SIEVE_HTTP_READ_TIMEOUT", "soon"},
		{"negative duration", "SIEVE_HTTP_IDLE_TIMEOUT", "-1s"},
		{"bad size", "SIEVE_HTTP_BODY_LIMIT", "lots"},
		{"tiny body", "SIEVE_HTTP_BODY_LIMIT", "10"},
		{"bad int", "SIEVE_DB_MAX_CONNS", "many"},
		{"conns range", "SIEVE_DB_MAX_CONNS", "1"},
		{"bad bool", "SIEVE_S3_USE_SSL", "yes please"},
		{"bad addr", "SIEVE_HTTP_ADDR", "localhost"},
		{"bad db url", "SIEVE_DB_URL", "mysql://x"},
		{"endpoint with scheme", "SIEVE_S3_ENDPOINT", "http://minio"},
		{"log level", "SIEVE_LOG_LEVEL", "loud"},
		{"log format", "SIEVE_LOG_FORMAT", "xml"},
		{"same buckets", "SIEVE_S3_BUCKET_MEDIA", "sieve-derived"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(map[string]string{tt.key: tt.value}))
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.key, tt.value)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Fatalf("error %q does not name %s", err, tt.key)
			}
		})
	}
}

func TestSecretFromFileAndMasking(t *testing.T) {
	f := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(f, []byte("s3cr3t-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env(map[string]string{
		"SIEVE_S3_SECRET_KEY_FILE": f,
		"SIEVE_DB_URL":             "postgres://sieve:dbpass@db:5432/sieve",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.SecretKey != "s3cr3t-key" {
		t.Fatalf("secret file not read: %q", c.S3.SecretKey)
	}
	s := c.String()
	if strings.Contains(s, "s3cr3t-key") || strings.Contains(s, "dbpass") {
		t.Fatalf("secret leaked in %q", s)
	}
	if !strings.Contains(s, "sieve:xxxxx@db:5432") {
		t.Fatalf("masked URL missing in %q", s)
	}
}

func TestSecretBothSetIsAnError(t *testing.T) {
	_, err := Load(env(map[string]string{"SIEVE_S3_SECRET_KEY": "a", "SIEVE_S3_SECRET_KEY_FILE": "/x"}))
	if err == nil || !strings.Contains(err.Error(), "SIEVE_S3_SECRET_KEY_FILE") {
		t.Fatalf("want conflict error, got %v", err)
	}
}

func TestSitesReinspectionDays(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || fmt.Sprint(c.Sites.ReinspectionDays) != "[30 90]" {
		t.Fatalf("default %v (%v), want [30 90]", c.Sites.ReinspectionDays, err)
	}
	c, err = Load(env(map[string]string{"SIEVE_SITES_REINSPECTION_DAYS": " 14, 60 ,180"}))
	if err != nil || fmt.Sprint(c.Sites.ReinspectionDays) != "[14 60 180]" {
		t.Fatalf("14,60,180: %v (%v)", c.Sites.ReinspectionDays, err)
	}
	for _, bad := range []string{"30,x", "0", "5000"} {
		if _, err := Load(env(map[string]string{"SIEVE_SITES_REINSPECTION_DAYS": bad})); err == nil ||
			!strings.Contains(err.Error(), "SIEVE_SITES_REINSPECTION_DAYS") {
			t.Errorf("%q: %v, want an error naming the variable", bad, err)
		}
	}
}

// TestSurveyBlock reads the survey quality variables and refuses values out of range.
func TestSurveyBlock(t *testing.T) {
	c, err := Load(env(map[string]string{"SIEVE_FOOTPRINT_DEPTH_HEIGHTS": "3", "SIEVE_FOOTPRINT_MAX_RANGE_M": "600",
		"SIEVE_SURVEY_REGION_MARGIN_M": "50", "SIEVE_SURVEY_DATE_TOLERANCE_DAYS": "2", "SIEVE_SURVEY_BLUR_MIN": "35.5"}))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.Survey; s.FootprintDepthHeights != 3 || s.FootprintMaxRangeMetres != 600 || s.RegionMarginMetres != 50 ||
		s.FlightDateDays != 2 || s.BlurMinLaplacian != 35.5 || s.DarkMeanLuma != 25 || s.BrightMeanLuma != 235 {
		t.Fatalf("survey block %+v", s)
	}
	for k, v := range map[string]string{"SIEVE_FOOTPRINT_DEPTH_HEIGHTS": "0", "SIEVE_FOOTPRINT_MAX_RANGE_M": "far",
		"SIEVE_SURVEY_BLUR_MIN": "-1", "SIEVE_SURVEY_DARK_LUMA": "240"} {
		if _, err := Load(env(map[string]string{k: v})); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
}
