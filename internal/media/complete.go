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
// checks the length, moves the bytes out of reach of the session's URLs (sealStaged), checks
// the header (format, limits), the structure and the declared SHA-256 of what was moved, and
// records the medium. Only the session's own uploader may complete it: anyone else (even of
// the same township, who sees the session) gets apperr.ErrNotFound, so nobody else becomes
// its uploader and the real uploader's completion stores it once. A refused file is removed
// from MinIO and its session marked rejected with why (completing it again answers
// upload_rejected); an expired session answers upload_expired. Completing again returns the
// same medium.
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
		if x.userID != a.UserID { // somebody else's upload: not theirs to finish
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
		return Medium{}, s.reject(ctx, a, x, "", ErrSizeMismatch.Wrap(fmt.Errorf("declared %d, stored %d", x.size, st.Size)))
	}
	final, err := s.sealStaged(ctx, x, st.ETag)
	if err != nil {
		return Medium{}, err
	}
	info, err := s.verifyStored(ctx, x, final)
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Status < 500 {
			return Medium{}, s.reject(ctx, a, x, final, err)
		}
		s.removeObject(ctx, final)
		return Medium{}, storageError(err)
	}
	kind := "photo"
	if x.surveyID != nil {
		kind = "drone"
	}
	rec := record{kind: kind, surveyID: x.surveyID, key: final, sha: x.sha, size: x.size, info: info, name: x.name}
	m, created, err := s.record(ctx, a, rec, nil)
	if err != nil {
		s.removeObject(ctx, final)
		return Medium{}, err
	}
	if !created && m.objectKey != final { // the same content was stored meanwhile: keep the first
		s.removeObject(ctx, final)
	}
	// The staging object is no longer needed: the medium's bytes are under the final key.
	s.removeObject(ctx, x.key)
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
func (s *Service) verifyStored(ctx context.Context, x session, key string) (imagery.Info, error) {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketMedia, key, minio.GetObjectOptions{})
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

// reject removes a refused upload's objects (the staging key and, once sealed, the final
// one), records why on its session, and returns err.
func (s *Service) reject(ctx context.Context, a db.Actor, x session, final string, err error) error {
	cctx := context.WithoutCancel(ctx)
	s.removeObject(cctx, x.key)
	if final != "" {
		s.removeObject(cctx, final)
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
