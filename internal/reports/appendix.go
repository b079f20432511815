package reports

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/ledgers"
)

// ContentTypeZIP is the media type of an export with its photo appendix.
const ContentTypeZIP = "application/zip"

// zipPartSize is the part of the multipart upload a photo appendix is streamed in: what the
// upload holds in memory at once, whatever the ZIP's size (minio-go's own choice for a stream
// of unknown length is a part of 5 TiB / 10,000 ≈ 537 MiB). 10,000 parts of 16 MiB bound a ZIP
// at 160 GiB.
const zipPartSize = 16 << 20

// errUploadEnded is what the ZIP writer meets when the upload stopped reading (it failed).
var errUploadEnded = errors.New("reports: the upload of the photo appendix ended")

// writeAppendix makes the photo appendix of req (照片附件, ledgers.Appendix) as the actor and
// streams it to the derived bucket under key as one ZIP: the detail thumbnail of each photo,
// copied from the store one at a time, then the ledger with its index, written last so that
// it lists the photos missing from the store. Memory holds one upload part and one photo's
// copy buffer, never the photos; the ledger and its index are held as Render holds a ledger.
// A failed upload leaves nothing (minio-go aborts the multipart upload).
func (s *Service) writeAppendix(ctx context.Context, as db.Actor, req ledgers.Request, key string) (stored, error) {
	var app *ledgers.Appendix
	err := db.ReadInScope(ctx, s.pool, as, func(tx pgx.Tx) error {
		var err error
		app, err = s.ledgers.Appendix(ctx, tx, req)
		return err
	})
	if err != nil {
		return stored{}, err
	}
	pr, pw := io.Pipe()
	h := sha256.New()
	n := &counter{}
	done := make(chan error, 1)
	go func() {
		err := s.zipAppendix(ctx, io.MultiWriter(pw, h, n), app)
		pw.CloseWithError(err)
		done <- err
	}()
	_, err = s.blob.Client.PutObject(ctx, s.blob.BucketDerived, key, pr, -1,
		minio.PutObjectOptions{ContentType: ContentTypeZIP, PartSize: zipPartSize})
	// The writer stops at its next write if the upload stopped reading.
	pr.CloseWithError(errUploadEnded)
	zerr := <-done
	switch {
	case zerr != nil && !errors.Is(zerr, errUploadEnded):
		// The writer failed (a photo could not be read): the upload failed with it.
		if err == nil {
			s.remove(s.blob.BucketDerived, key)
		}
		return stored{}, zerr
	case err != nil:
		if blob.IsUnavailable(err) {
			return stored{}, ErrStorage.Wrap(err)
		}
		return stored{}, fmt.Errorf("reports: put %s: %w", key, err)
	case zerr != nil:
		return stored{}, zerr
	}
	missing := 0
	for _, p := range app.Photos {
		if p.Missing != "" {
			missing++
		}
	}
	s.log.Info("reports: photo appendix", "key", key, "photos", len(app.Photos), "missing", missing, "bytes", n.n)
	return stored{name: app.Name, contentType: ContentTypeZIP, size: n.n, sha256: hex.EncodeToString(h.Sum(nil))}, nil
}

// zipAppendix writes the appendix's ZIP to w: the photos (stored as they are: JPEG does not
// deflate), each photo missing from the store marked so in the index, then the ledger's files.
func (s *Service) zipAppendix(ctx context.Context, w io.Writer, app *ledgers.Appendix) error {
	zw := zip.NewWriter(w)
	now := s.now()
	for i := range app.Photos {
		p := &app.Photos[i]
		if p.Missing != "" {
			continue
		}
		if err := s.zipPhoto(ctx, zw, p, now); err != nil {
			return err
		}
	}
	files, err := app.Files()
	if err != nil {
		return err
	}
	for _, f := range files {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: now})
		if err != nil {
			return fmt.Errorf("reports: zip %s: %w", f.Name, err)
		}
		if _, err := fw.Write(f.Body); err != nil {
			return fmt.Errorf("reports: zip %s: %w", f.Name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("reports: zip: %w", err)
	}
	return nil
}

// zipPhoto copies one photo's detail thumbnail into the ZIP, or marks it missing when the store
// has no such object.
func (s *Service) zipPhoto(ctx context.Context, zw *zip.Writer, p *ledgers.Photo, now time.Time) error {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketDerived, p.Key, minio.GetObjectOptions{})
	if err != nil {
		return s.photoError(p, err)
	}
	defer obj.Close()
	if _, err := obj.Stat(); err != nil {
		return s.photoError(p, err)
	}
	modified := now
	if p.TakenAt != nil {
		modified = *p.TakenAt
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: p.Path, Method: zip.Store, Modified: modified})
	if err != nil {
		return fmt.Errorf("reports: zip %s: %w", p.Path, err)
	}
	if _, err := io.Copy(fw, obj); err != nil {
		// The entry is half written: the export fails and is tried again.
		return fmt.Errorf("reports: copy photo %d: %w", p.MediaID, err)
	}
	return nil
}

// photoError marks a photo missing from the store (nil: the export goes on) or returns the
// store's failure.
func (s *Service) photoError(p *ledgers.Photo, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		s.log.Warn("reports: a photo's thumbnail is missing from the store", "media", p.MediaID, "key", p.Key)
		p.Missing = ledgers.MissingObject
		return nil
	}
	if blob.IsUnavailable(err) {
		return ErrStorage.Wrap(err)
	}
	return fmt.Errorf("reports: get photo %d: %w", p.MediaID, err)
}

// counter counts the bytes written through it.
type counter struct{ n int64 }

func (c *counter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}
