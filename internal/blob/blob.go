// Package blob is Sieve's access to the MinIO (S3-compatible) object store: originals of photos
// and drone images in the media bucket, thumbnails and generated exports in the derived bucket.
package blob

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config says how to reach the store and which buckets to use.
type Config struct {
	Endpoint      string
	AccessKey     string
	SecretKey     string
	UseSSL        bool
	Region        string
	BucketMedia   string
	BucketDerived string
	// PublicURL is the store's address as clients outside see it (e.g. https://files.example.org),
	// for the presigned URLs handed to phones and laptops; empty means Endpoint.
	PublicURL string
}

// Store wraps a MinIO client and the bucket names.
type Store struct {
	Client *minio.Client
	// Presigner signs the URLs handed to clients, for the public address (Client when none).
	// Signing is local: it never contacts the store.
	Presigner     *minio.Client
	BucketMedia   string
	BucketDerived string
	region        string
}

// New makes a Store. It does not contact the server; call EnsureBuckets at start.
func New(cfg Config) (*Store, error) {
	tr, err := minio.DefaultTransport(cfg.UseSSL)
	if err != nil {
		return nil, fmt.Errorf("blob: transport: %w", err)
	}
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.MaxIdleConnsPerHost = 64
	// MinIO closes a connection idle for 30 s (its idle and read-header timeouts; a spare
	// connection the transport dialed and never used counts from its dial): the transport must
	// drop it first, or a PUT sent on it just as MinIO closes it fails with a broken pipe, and a
	// streamed upload cannot be replayed (issue 16: 2 of 4,000 photos in the load burst were
	// refused 503 storage_unavailable so). minio-go's default is a minute.
	tr.IdleConnTimeout = 20 * time.Second
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:    cfg.UseSSL,
		Region:    cfg.Region,
		Transport: tr,
		// Trailing checksums: an upload of unknown content can carry its SHA-256, computed
		// while it streams, for MinIO to verify (internal/media).
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: client: %w", err)
	}
	s := &Store{Client: c, Presigner: c, BucketMedia: cfg.BucketMedia, BucketDerived: cfg.BucketDerived, region: cfg.Region}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("blob: public URL %q: want http(s)://host[:port]", cfg.PublicURL)
		}
		region := cfg.Region
		if region == "" {
			region = "us-east-1" // a region must be set, or presigning would ask the store for it
		}
		s.Presigner, err = minio.New(u.Host, &minio.Options{
			Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
			Secure: u.Scheme == "https",
			Region: region,
		})
		if err != nil {
			return nil, fmt.Errorf("blob: presigner: %w", err)
		}
	}
	return s, nil
}

// EnsureBuckets creates the buckets Sieve needs if they are missing.
func (s *Store) EnsureBuckets(ctx context.Context) error {
	for _, b := range []string{s.BucketMedia, s.BucketDerived} {
		ok, err := s.Client.BucketExists(ctx, b)
		if err != nil {
			return fmt.Errorf("blob: bucket %s: %w", b, err)
		}
		if ok {
			continue
		}
		if err := s.Client.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: s.region}); err != nil {
			// Another replica may have created it in between.
			if resp := minio.ToErrorResponse(err); resp.Code == "BucketAlreadyOwnedByYou" {
				continue
			}
			return fmt.Errorf("blob: make bucket %s: %w", b, err)
		}
	}
	return nil
}

// Ping checks that the store answers and the media bucket is reachable with our credentials.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.Client.BucketExists(ctx, s.BucketMedia)
	if err != nil {
		return fmt.Errorf("blob: ping: %w", err)
	}
	return nil
}

// IsUnavailable reports whether err means the store could not be reached (as opposed to a
// refusal such as a missing object).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	resp := minio.ToErrorResponse(err)
	return resp.StatusCode == 0 || resp.StatusCode >= http.StatusInternalServerError
}
