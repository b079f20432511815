package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
)

// Screened is a file stored by StoreScreened: where it lies, its SHA-256, what it is, and what
// its EXIF says of its place and time (nil when it says nothing, or nothing plausible).
type Screened struct {
	Key      string
	SHA256   []byte
	Size     int64
	Info     imagery.Info
	Lon, Lat *float64
	TakenAt  *time.Time
}

// StoreScreened stores one image that nobody logged in uploads (a public tip's photo, recorded
// by RecordTipPhoto) after the checks every upload goes through, the same as
// Ingest's: the header is sniffed by content and probed, the upload limits (bytes, and pixels:
// the decode bound) are checked before anything is stored, the whole file's structure is checked
// as it streams, and its EXIF is read (place, capture time). maxBytes lowers the byte limit for
// this caller (0: the media limit). The file is spooled to a temporary file (never held in
// memory), then sent to MinIO in one PUT under prefix/YYYY/MM/DD/<random>.<ext>, whose SHA-256
// MinIO verifies and stores. A refused or failed file leaves nothing behind; a stored one is
// the caller's to record or remove (RemoveScreened).
func (s *Service) StoreScreened(ctx context.Context, r io.Reader, prefix string, maxBytes int64) (Screened, error) {
	limits := s.cfg.Limits
	if maxBytes > 0 && (limits.MaxBytes <= 0 || maxBytes < limits.MaxBytes) {
		limits.MaxBytes = maxBytes
	}
	body := &bodyReader{r: r}
	f, n, err := s.spoolLimited(body, limits.MaxBytes)
	if f != nil {
		defer func() { f.Close(); os.Remove(f.Name()) }()
	}
	if err != nil {
		return Screened{}, err
	}
	if n == 0 {
		return Screened{}, ErrEmptyFile
	}
	info, err := imagery.Probe(f, n)
	if err != nil {
		return Screened{}, classify(err)
	}
	info.Size = n
	if err := limits.Check(info); err != nil {
		return Screened{}, classify(err)
	}
	out := Screened{Size: n, Info: info}
	if md, err := imagery.ReadMetadata(f, n); err == nil {
		md.AssumeZone(chinatime.Zone)
		md.CheckTakenAt(s.now())
		if md.GPS != nil {
			lon, lat := md.GPS.Lon, md.GPS.Lat
			out.Lon, out.Lat = &lon, &lat
		}
		if md.TakenAt != nil {
			t := *md.TakenAt
			out.TakenAt = &t
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Screened{}, fmt.Errorf("media: screened: %w", err)
	}
	now := s.now()
	key := newObjectKey(now, info.Format)
	key = path.Join(prefix, key[len("media/"):])
	check := imagery.NewStreamChecker(info.Format)
	opts := minio.PutObjectOptions{ContentType: info.Format.MIMEType(), PartSize: uint64(max(n, 5<<20)),
		Checksum: minio.ChecksumSHA256, DisableContentSha256: true}
	put, err := s.blob.Client.PutObject(ctx, s.blob.BucketMedia, key, io.TeeReader(f, check), n, opts)
	if err != nil {
		if !neverSent(err) {
			s.RemoveScreened(context.WithoutCancel(ctx), key)
		}
		if ctx.Err() != nil {
			return Screened{}, ErrUploadInterrupted.Wrap(err)
		}
		return Screened{}, storageError(err)
	}
	out.Key = key
	if err := check.Finish(); err != nil {
		s.RemoveScreened(context.WithoutCancel(ctx), key)
		return Screened{}, classify(err)
	}
	digest, err := base64.StdEncoding.DecodeString(put.ChecksumSHA256)
	if err != nil || len(digest) != sha256.Size {
		s.RemoveScreened(context.WithoutCancel(ctx), key)
		return Screened{}, fmt.Errorf("media: the store returned no SHA-256 for %s (%q)", key, put.ChecksumSHA256)
	}
	out.SHA256 = digest
	return out, nil
}

// RecordTipPhoto records a file StoreScreened stored for a public tip as a medium of source tip
// in the caller's transaction, which must act as the system (the tips intake), and enqueues its
// jobs there like any upload's (metadata and placement, thumbnails and pHash): the medium exists,
// and its jobs run, if and only if the tip commits. It has no uploader (the public has no
// account); regionPath is the tip's (nil: a tip without a point, the city's), which decides who
// sees it (the policy media_tip_scope, migration 0038). It returns the medium's id.
func (s *Service) RecordTipPhoto(ctx context.Context, tx pgx.Tx, st Screened, regionPath *string) (int64, error) {
	const sql = `INSERT INTO media (kind, source, uploaded_by, region_path, sha256, size, format, content_type, object_key,
			width, height)
		VALUES ('photo', 'tip', NULL, $1::ltree, $2, $3, $4, $5, $6, $7, $8) RETURNING id`
	var id int64
	err := tx.QueryRow(ctx, sql, regionPath, st.SHA256, st.Size, string(st.Info.Format), st.Info.Format.MIMEType(), st.Key,
		st.Info.Width, st.Info.Height).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("media: record tip photo %s: %w", st.Key, db.MapError(err))
	}
	if err := s.enqueue(ctx, tx, id); err != nil {
		return 0, err
	}
	return id, nil
}

// RemoveScreened removes files StoreScreened stored whose record did not commit. A failure is
// logged: the object stays, unreferenced.
func (s *Service) RemoveScreened(ctx context.Context, keys ...string) {
	for _, k := range keys {
		s.removeObject(ctx, k)
	}
}

// OpenScreened reads a file StoreScreened stored (for the callers that serve it to those who
// may see it).
func (s *Service) OpenScreened(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketMedia, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, storageError(err)
	}
	return obj, nil
}

// spoolLimited copies a whole stream to a temporary file, at most limit bytes (ErrFileTooLarge
// past it), and returns the file at its start and its length (no file for an empty stream).
func (s *Service) spoolLimited(body *bodyReader, limit int64) (*os.File, int64, error) {
	var head [1]byte
	k, err := readFull(body, head[:])
	if err != nil {
		return nil, 0, bodyError(err)
	}
	if k == 0 {
		return nil, 0, nil
	}
	if limit <= 0 {
		limit = math.MaxInt64 - 1
	}
	return s.spool(&bodyReader{r: io.MultiReader(bytes.NewReader(head[:]), body)}, limit)
}
