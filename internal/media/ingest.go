package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/db"
)

// headLen is how much of a file is held in memory to sniff and probe its header before any
// byte is stored: enough for the EXIF, XMP and ICC segments that precede a JPEG's frame header.
const headLen = 512 << 10

// headPool recycles the head buffers: a busy server takes many photos a second.
var headPool = sync.Pool{New: func() any { b := make([]byte, headLen); return &b }}

// Upload is one file streamed through the API (POST /media).
type Upload struct {
	Body io.Reader
	// Size is the file's length when the client declared it (the form field "size" before the
	// file), or -1. A declared size lets the file go to MinIO as one streamed PUT.
	Size           int64
	Name           string
	IdempotencyKey string
}

// ByIdempotencyKey returns the caller's medium recorded under key, or apperr.ErrNotFound.
func (s *Service) ByIdempotencyKey(ctx context.Context, a db.Actor, key string) (Medium, error) {
	return readAs(ctx, s.pool, a, func(tx pgx.Tx) (Medium, error) { return s.store.ByIdempotencyKey(ctx, tx, a.UserID, key) })
}

// newObjectKey names a new original: media/YYYY/MM/DD/<random>.<ext>.
func newObjectKey(now time.Time, f imagery.Format) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return path.Join("media", now.UTC().Format("2006/01/02"), hex.EncodeToString(b)+"."+string(f))
}

// bodyReader remembers the error the client's stream failed with, so that a broken upload is
// told apart from a failing store.
type bodyReader struct {
	r   io.Reader
	n   int64
	eof bool
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.err = err
	}
	return n, err
}

// bodyError maps an error of the client's stream.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ErrFileTooLarge.Wrap(err)
	}
	return ErrUploadInterrupted.Wrap(err)
}

// Ingest stores one photo streamed through the API and records it for caller a. The header is
// sniffed and probed, and the limits checked, before any byte is stored; the rest streams to
// MinIO (one PUT when the size is known) while its SHA-256 is computed and its structure
// checked. A refused, broken or failed upload leaves nothing in MinIO or the database. A file the
// caller already uploaded (same SHA-256), or a retry with the same Idempotency-Key, returns the
// first record with created false.
func (s *Service) Ingest(ctx context.Context, a db.Actor, up Upload) (m Medium, created bool, err error) {
	if up.Size == 0 {
		return m, false, ErrEmptyFile
	}
	if up.Size > 0 && s.cfg.Limits.MaxBytes > 0 && up.Size > s.cfg.Limits.MaxBytes {
		return m, false, ErrFileTooLarge.Wrap(fmt.Errorf("declared %d bytes, limit %d", up.Size, s.cfg.Limits.MaxBytes))
	}
	body := &bodyReader{r: up.Body}
	hb := headPool.Get().(*[]byte)
	defer headPool.Put(hb)
	head := (*hb)[:headLen]
	if up.Size > 0 {
		head = head[:min(int64(headLen), up.Size)]
	}
	n, rerr := readFull(body, head)
	head = head[:n]
	if rerr != nil {
		return m, false, bodyError(rerr)
	}
	whole := n < len(head) || (up.Size > 0 && int64(n) == up.Size) // the head is the whole file
	info, err := imagery.Probe(bytes.NewReader(head), int64(n))
	if err != nil {
		return m, false, classify(err)
	}
	switch {
	case whole:
		info.Size = int64(n)
	case up.Size > 0:
		info.Size = up.Size
	}
	if err := s.cfg.Limits.Check(info); err != nil {
		return m, false, classify(err)
	}
	if up.Size > 0 && whole && int64(n) != up.Size {
		return m, false, ErrSizeMismatch
	}

	now := s.now()
	key := newObjectKey(now, info.Format)
	if err := db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		return s.store.insertIntent(ctx, tx, key, a.UserID, now)
	}); err != nil {
		return m, false, err
	}
	stored := false
	defer func() {
		if err == nil {
			return
		}
		// Leave nothing behind: the object (if any) and the intent.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if stored {
			if rerr := s.blob.Client.RemoveObject(cctx, s.blob.BucketMedia, key, minio.RemoveObjectOptions{}); rerr != nil {
				// The store is away: keep trying for a while; the intent stays meanwhile, so
				// that the cleanup job removes the object if this process stops first.
				s.log.Warn("media: remove failed upload; retrying in the background", "key", key, "err", rerr)
				go s.removeLater(a, key)
				return
			}
		}
		s.dropIntent(cctx, a, key)
	}()

	size := int64(-1)
	var rest io.Reader = body
	switch {
	case whole:
		size = int64(n)
	case up.Size > 0:
		size = up.Size
	default:
		// No size given: spool the rest to a temporary file (bounded by the upload limit), so
		// that the request holds its head and a copy buffer in memory, never a 5 MB multipart
		// part buffer, and goes to MinIO as one streamed PUT with its SHA-256 stored.
		limit := int64(math.MaxInt64 - 1) // no upload limit
		if s.cfg.Limits.MaxBytes > 0 {
			limit = s.cfg.Limits.MaxBytes - int64(n)
		}
		f, k, serr := s.spool(body, limit)
		if f != nil {
			defer func() { f.Close(); os.Remove(f.Name()) }()
		}
		if serr != nil {
			return m, false, serr
		}
		size, rest = int64(n)+k, f
	}
	check := imagery.NewStreamChecker(info.Format)
	// One streamed PUT however large (no part buffers in memory), whose SHA-256 the client
	// library computes as it sends and MinIO verifies and stores (a trailing
	// x-amz-checksum-sha256): one pass over the bytes instead of a hash here and another for
	// the request signature; the stored checksum is what GET /media/{id}/original checks.
	opts := minio.PutObjectOptions{ContentType: info.Format.MIMEType(), PartSize: uint64(max(size, 5<<20)),
		Checksum: minio.ChecksumSHA256, DisableContentSha256: true}
	src := io.LimitReader(io.TeeReader(io.MultiReader(bytes.NewReader(head), rest), check), size)
	put, perr := s.blob.Client.PutObject(ctx, s.blob.BucketMedia, key, src, size, opts)
	if perr != nil {
		// A PUT that never reached the store stored nothing; any other failure may have landed
		// (a lost response) and is removed.
		stored = !neverSent(perr)
		if body.err != nil {
			return m, false, bodyError(body.err)
		}
		if body.eof && size >= 0 && body.n < size { // the file ended before its declared size
			return m, false, ErrSizeMismatch.Wrap(perr)
		}
		if ctx.Err() != nil {
			return m, false, ErrUploadInterrupted.Wrap(perr)
		}
		return m, false, storageError(perr)
	}
	stored = true
	// The declared length must be the real one.
	var one [1]byte
	if k, _ := io.ReadFull(body, one[:]); k > 0 {
		return m, false, ErrSizeMismatch
	}
	if body.err != nil {
		return m, false, bodyError(body.err)
	}
	if err := check.Finish(); err != nil {
		return m, false, classify(err)
	}
	total := body.n // every byte, head included, came through body
	digest, err := base64.StdEncoding.DecodeString(put.ChecksumSHA256)
	if err != nil || len(digest) != sha256.Size {
		return m, false, fmt.Errorf("media: the store returned no SHA-256 for %s (%q)", key, put.ChecksumSHA256)
	}

	rec := record{
		kind: "photo", key: key, sha: digest, size: total, info: info,
		name: cleanName(up.Name), idem: up.IdempotencyKey,
	}
	m, created, err = s.record(ctx, a, rec, func(tx pgx.Tx) error { return s.store.deleteIntent(ctx, tx, key) })
	if err != nil {
		return m, false, err
	}
	if !created {
		// Stored before: drop this copy (and its intent), keep the first.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := s.blob.Client.RemoveObject(cctx, s.blob.BucketMedia, key, minio.RemoveObjectOptions{}); rerr != nil {
			s.log.Warn("media: remove duplicate; the cleanup job will retry", "key", key, "err", rerr)
			return m, false, nil
		}
		s.dropIntent(cctx, a, key)
	}
	return m, created, nil
}

// spool copies the rest of an upload of unknown length to a temporary file, at most limit
// bytes (ErrFileTooLarge past it; the caller's limit, whichever upload it bounds), and returns
// the file positioned at its start.
func (s *Service) spool(body *bodyReader, limit int64) (*os.File, int64, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "sieve-upload-")
	if err != nil {
		return nil, 0, fmt.Errorf("media: spool: %w", err)
	}
	k, err := io.Copy(f, io.LimitReader(body, max(limit, 0)+1))
	switch {
	case body.err != nil:
		return f, k, bodyError(body.err)
	case err != nil:
		return f, k, fmt.Errorf("media: spool: %w", err)
	case k > limit:
		return f, k, ErrFileTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return f, k, fmt.Errorf("media: spool: %w", err)
	}
	return f, k, nil
}

// dropIntent forgets an upload intent whose object is gone or recorded.
func (s *Service) dropIntent(ctx context.Context, a db.Actor, key string) {
	if err := db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error { return s.store.deleteIntent(ctx, tx, key) }); err != nil {
		s.log.Warn("media: drop upload intent", "key", key, "err", err)
	}
}

// removeLater retries removing the object of a failed upload while the store is away (for
// about ten minutes of waiting), then drops its intent. If it gives up, the cleanup job
// finishes the work.
func (s *Service) removeLater(a db.Actor, key string) {
	wait := 500 * time.Millisecond
	for waited := time.Duration(0); waited < 10*time.Minute; wait = min(2*wait, 30*time.Second) {
		time.Sleep(wait)
		waited += wait
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := s.blob.Client.RemoveObject(ctx, s.blob.BucketMedia, key, minio.RemoveObjectOptions{})
		if err == nil {
			s.dropIntent(ctx, a, key)
			cancel()
			return
		}
		cancel()
	}
}

// neverSent reports whether err is a failure to connect: no byte reached the store.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// readFull reads until p is full or the stream ends; unlike io.ReadFull a short file is not an
// error, only a broken stream is.
func readFull(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := r.Read(p[n:])
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// cleanName keeps the base name of an uploaded file, bounded, for display.
func cleanName(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	if name == "." || name == "/" {
		return ""
	}
	if len(name) > 255 {
		name = name[:255]
	}
	return strings.ToValidUTF8(name, "")
}

// record is a stored original about to be recorded.
type record struct {
	kind     string
	surveyID *int64
	key      string
	sha      []byte
	size     int64
	info     imagery.Info
	name     string
	idem     string
}

// record inserts the medium and enqueues its jobs in one transaction (with extra, run in the
// same transaction when the medium is new). When the caller already has this content (or this
// Idempotency-Key), nothing is inserted and the existing medium is returned with created false.
func (s *Service) record(ctx context.Context, a db.Actor, r record, extra func(tx pgx.Tx) error) (m Medium, created bool, err error) {
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		id, ok, err := s.store.insertMedium(ctx, tx, a.UserID, r)
		if err != nil {
			return err
		}
		if !ok { // already there: by content, or by this Idempotency-Key
			reused, err := s.keyReused(ctx, tx, a.UserID, r.idem, r.sha)
			if err != nil {
				return err
			}
			if reused { // the key names another file: this one is not it
				return ErrIdempotencyKeyReused
			}
			m, err = s.store.firstMedium(ctx, tx, a.UserID, r.sha, r.idem)
			return err
		}
		if extra != nil {
			if err := extra(tx); err != nil {
				return err
			}
		}
		if err := s.enqueue(ctx, tx, id); err != nil {
			return err
		}
		created = true
		m, err = s.store.Get(ctx, tx, id)
		return err
	})
	if err != nil {
		return m, false, db.MapError(err)
	}
	return m, created, nil
}
