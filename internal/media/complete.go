package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// Complete finishes an upload session once its bytes are in MinIO: it assembles the parts,
// checks the length, the header (format, limits), the structure and the declared SHA-256, and
// records the medium. A refused file is removed from MinIO and its session marked rejected
// with why (completing it again answers upload_rejected); an expired session answers
// upload_expired. Completing again returns the same medium.
func (s *Service) Complete(ctx context.Context, a db.Actor, surveyID *int64, uploadID int64) (Medium, error) {
	var x session
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if surveyID != nil {
			if _, err := s.store.GetSurvey(ctx, tx, *surveyID); err != nil {
				return err
			}
		}
		var err error
		if x, err = s.store.session(ctx, tx, uploadID); err != nil {
			return err
		}
		if (surveyID == nil) != (x.surveyID == nil) || (surveyID != nil && *surveyID != *x.surveyID) {
			return apperr.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return Medium{}, db.MapError(err)
	}
	switch x.status {
	case "completed":
		if x.mediaID == nil {
			return Medium{}, apperr.ErrNotFound
		}
		return s.getAs(ctx, a, *x.mediaID)
	case "rejected":
		return Medium{}, ErrUploadRejected.WithDetails(map[string]string{"code": x.code, "reason": x.reason})
	case "expired":
		return Medium{}, ErrUploadExpired
	}

	if x.kind == "multipart" {
		if err := s.assemble(ctx, x); err != nil {
			return Medium{}, err
		}
	}
	st, err := s.blob.Client.StatObject(ctx, s.blob.BucketMedia, x.key, minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return Medium{}, ErrUploadIncomplete.Wrap(err)
		}
		return Medium{}, storageError(err)
	}
	if st.Size != x.size {
		return Medium{}, s.reject(ctx, a, x, ErrSizeMismatch.Wrap(fmt.Errorf("declared %d, stored %d", x.size, st.Size)))
	}
	info, err := s.verifyStored(ctx, x)
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Status < 500 {
			return Medium{}, s.reject(ctx, a, x, err)
		}
		return Medium{}, storageError(err)
	}
	kind := "photo"
	if x.surveyID != nil {
		kind = "drone"
	}
	rec := record{kind: kind, surveyID: x.surveyID, key: x.key, sha: x.sha, size: x.size, info: info, name: x.name}
	m, created, err := s.record(ctx, a, rec, nil)
	if err != nil {
		return Medium{}, err
	}
	if !created && m.objectKey != x.key { // the same content was stored meanwhile: keep the first
		_ = s.blob.Client.RemoveObject(context.WithoutCancel(ctx), s.blob.BucketMedia, x.key, minio.RemoveObjectOptions{})
	}
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error { return s.store.completeSession(ctx, tx, x.id, m.ID) })
	return m, db.MapError(err)
}

// assemble completes a multipart upload when every part is there with the right lengths.
func (s *Service) assemble(ctx context.Context, x session) error {
	done, err := s.partsDone(ctx, x)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
			return nil // completed by a concurrent call: the object is there
		}
		return storageError(err)
	}
	n := int((x.size + x.partSize - 1) / x.partSize)
	var parts []minio.CompletePart
	var missing []int
	for p := 1; p <= n; p++ {
		op, ok := done[p]
		want := x.partSize
		if p == n {
			want = x.size - int64(n-1)*x.partSize
		}
		if !ok || op.Size != want {
			missing = append(missing, p)
			continue
		}
		parts = append(parts, minio.CompletePart{PartNumber: p, ETag: op.ETag})
	}
	if len(missing) > 0 {
		return ErrUploadIncomplete.WithDetails(map[string]any{"missingParts": missing})
	}
	if _, err := s.core().CompleteMultipartUpload(ctx, s.blob.BucketMedia, x.key, *x.s3ID, parts, minio.PutObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
			return nil
		}
		return storageError(err)
	}
	return nil
}

// verifyStored reads a stored upload once: it sniffs and probes its head and checks the limits,
// checks the structure of the whole file (imagery.NewStreamChecker) and that its SHA-256 is the
// one declared, so that a file damaged on the way is refused when the client completes it, while
// it can still send it again, not later by a job. Reading the object back costs about what
// receiving it did, once per file.
func (s *Service) verifyStored(ctx context.Context, x session) (imagery.Info, error) {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketMedia, x.key, minio.GetObjectOptions{})
	if err != nil {
		return imagery.Info{}, err
	}
	defer obj.Close()
	head := make([]byte, min(x.size, headLen))
	if _, err := io.ReadFull(obj, head); err != nil {
		return imagery.Info{}, err
	}
	info, err := imagery.Probe(bytes.NewReader(head), int64(len(head)))
	if err != nil {
		return info, classify(err)
	}
	info.Size = x.size
	if err := s.cfg.Limits.Check(info); err != nil {
		return info, classify(err)
	}
	check := imagery.NewStreamChecker(info.Format)
	sum := sha256.New()
	w := io.MultiWriter(sum, check)
	_, _ = w.Write(head)
	if _, err := io.Copy(w, obj); err != nil {
		return info, err
	}
	if err := check.Finish(); err != nil {
		return info, classify(err)
	}
	if !bytes.Equal(sum.Sum(nil), x.sha) {
		return info, ErrHashMismatch
	}
	return info, nil
}

// reject removes a refused upload's object, records why on its session, and returns err.
func (s *Service) reject(ctx context.Context, a db.Actor, x session, err error) error {
	cctx := context.WithoutCancel(ctx)
	if rerr := s.blob.Client.RemoveObject(cctx, s.blob.BucketMedia, x.key, minio.RemoveObjectOptions{}); rerr != nil {
		s.log.Warn("media: remove rejected upload", "key", x.key, "err", rerr)
	}
	code, reason := "rejected", err.Error()
	if ae, ok := apperr.As(err); ok {
		code, reason = ae.Code, ae.MessageZH
	}
	if uerr := db.InScope(cctx, s.pool, a, func(tx pgx.Tx) error {
		return s.store.rejectSession(cctx, tx, x.id, code, reason)
	}); uerr != nil {
		s.log.Warn("media: record rejection", "upload_id", x.id, "err", uerr)
	}
	return err
}
