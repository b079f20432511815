package blob

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// TestPresignPublicURL: presigned URLs carry the public address, and signing them needs no
// store (the endpoint here answers nothing).
func TestPresignPublicURL(t *testing.T) {
	s, err := New(Config{Endpoint: "127.0.0.1:1", AccessKey: "k", SecretKey: "s", Region: "us-east-1",
		BucketMedia: "media", BucketDerived: "derived", PublicURL: "https://files.example.org"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	u, err := s.Presigner.PresignedPutObject(ctx, "media", "media/x.jpg", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "https" || u.Host != "files.example.org" || u.Path != "/media/media/x.jpg" || u.Query().Get("X-Amz-Signature") == "" {
		t.Fatalf("presigned %s", u)
	}
	if _, err := New(Config{Endpoint: "127.0.0.1:1", PublicURL: "files.example.org"}); err == nil {
		t.Fatal("public URL without scheme accepted")
	}
	plain, err := New(Config{Endpoint: "127.0.0.1:9", AccessKey: "k", SecretKey: "s", Region: "us-east-1", BucketMedia: "media", BucketDerived: "derived"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := plain.Presigner.PresignedGetObject(ctx, "media", "k", time.Minute, url.Values{})
	if err != nil || p.Host != "127.0.0.1:9" {
		t.Fatalf("without public URL: %v %v", p, err)
	}
}
