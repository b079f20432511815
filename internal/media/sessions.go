package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// FileDecl announces one file to upload with presigned URLs.
type FileDecl struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

// Slot is the answer for one declared file: already there ("exists", with its medium),
// refused ("rejected", with why), or to upload ("upload") with a presigned PUT URL (files up
// to PartSize) or one presigned URL per part still missing (larger files, resumable).
type Slot struct {
	Name      string     `json:"name"`
	SHA256    string     `json:"sha256"`
	Status    string     `json:"status"`
	UploadID  int64      `json:"uploadId,omitempty"`
	MediaID   *int64     `json:"mediaId,omitempty"`
	Method    string     `json:"method,omitempty"`
	URL       string     `json:"url,omitempty"`
	PartSize  int64      `json:"partSize,omitempty"`
	Parts     []PartURL  `json:"parts,omitempty"`
	PartsDone []int      `json:"partsDone,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Code      string     `json:"code,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// PartURL is the presigned PUT URL of one part of a multipart upload.
type PartURL struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// MaxFilesPerRequest bounds the files one POST /surveys/{id}/uploads may announce.
const MaxFilesPerRequest = 500

type session struct {
	id       int64
	kind     string
	surveyID *int64
	userID   int64
	name     string
	size     int64
	sha      []byte
	key      string
	s3ID     *string
	partSize int64
	status   string
	code     string
	reason   string
	mediaID  *int64
	expires  time.Time
}

const sessionCols = `id, kind, survey_id, user_id, file_name, size, sha256, object_key, s3_upload_id, part_size,
	status, reason_code, reason, media_id, expires_at`

func scanSession(row pgx.Row) (session, error) {
	var x session
	err := row.Scan(&x.id, &x.kind, &x.surveyID, &x.userID, &x.name, &x.size, &x.sha, &x.key, &x.s3ID, &x.partSize,
		&x.status, &x.code, &x.reason, &x.mediaID, &x.expires)
	return x, err
}

// Slots answers a batch of declared files for caller a: into survey surveyID, or (nil) as
// photos. A file the caller already stored is "exists"; a file with a pending session gets the
// same session again (same object, same multipart upload, with the parts already sent), so an
// interrupted run continues where it stopped.
func (s *Service) Slots(ctx context.Context, a db.Actor, surveyID *int64, files []FileDecl) ([]Slot, error) {
	if len(files) == 0 {
		return nil, apperr.Invalidf("files_required", "请至少声明一个文件", "files is empty")
	}
	if len(files) > MaxFilesPerRequest {
		return nil, apperr.Invalidf("too_many_files", "单次最多声明 500 个文件", "at most %d files per request", MaxFilesPerRequest)
	}
	out := make([]Slot, len(files))
	var todo []int
	err := db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if surveyID != nil {
			if _, err := s.GetSurvey(ctx, tx, *surveyID); err != nil {
				return err
			}
		}
		for i, f := range files {
			sl := &out[i]
			sl.Name, sl.SHA256 = cleanName(f.Name), strings.ToLower(f.SHA256)
			sum, err := hex.DecodeString(sl.SHA256)
			switch {
			case err != nil || len(sum) != 32:
				sl.Status, sl.Code, sl.Reason = "rejected", "invalid_sha256", "SHA-256 应为 64 位十六进制"
				continue
			case f.Size <= 0:
				sl.Status, sl.Code, sl.Reason = "rejected", ErrEmptyFile.Code, ErrEmptyFile.MessageZH
				continue
			case s.cfg.Limits.MaxBytes > 0 && f.Size > s.cfg.Limits.MaxBytes:
				sl.Status, sl.Code, sl.Reason = "rejected", ErrFileTooLarge.Code, ErrFileTooLarge.MessageZH
				continue
			}
			var mid int64
			err = tx.QueryRow(ctx, `SELECT id FROM media WHERE uploaded_by = $1 AND sha256 = $2`, a.UserID, sum).Scan(&mid)
			if err == nil {
				sl.Status, sl.MediaID = "exists", &mid
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			x, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionCols+` FROM upload_sessions
				WHERE user_id = $1 AND sha256 = $2 AND status = 'pending'`, a.UserID, sum))
			switch {
			case err == nil && x.size == f.Size:
				// Continue it, for this survey, a while longer.
				if _, err := tx.Exec(ctx, `UPDATE upload_sessions SET survey_id = $2, file_name = $3, expires_at = $4,
					region_path = CASE WHEN $2::bigint IS NULL THEN (SELECT region_path FROM users WHERE id = user_id)
					                   ELSE (SELECT region_path FROM surveys WHERE id = $2) END, updated_at = now()
					WHERE id = $1`, x.id, surveyID, sl.Name, time.Now().Add(s.cfg.SessionTTL)); err != nil {
					return err
				}
				sl.UploadID = x.id
				todo = append(todo, i)
				continue
			case err == nil: // same content, other size: the old session is wrong; end it
				if _, err := tx.Exec(ctx, `UPDATE upload_sessions SET status = 'expired', reason_code = 'superseded',
					reason = '已被新的上传取代', updated_at = now() WHERE id = $1`, x.id); err != nil {
					return err
				}
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			id, err := s.newSession(ctx, tx, a, surveyID, sl.Name, f.Size, sum)
			if err != nil {
				return err
			}
			sl.UploadID = id
			todo = append(todo, i)
		}
		return nil
	})
	if err != nil {
		return nil, storageError(err)
	}
	for _, i := range todo {
		if err := s.presign(ctx, a, &out[i]); err != nil {
			return nil, storageError(err)
		}
	}
	return out, nil
}

// newSession creates a pending session; a file larger than PartSize gets a multipart upload.
func (s *Service) newSession(ctx context.Context, tx pgx.Tx, a db.Actor, surveyID *int64, name string, size int64, sum []byte) (int64, error) {
	key := newObjectKey(time.Now(), imagery.Format("bin"))
	key = strings.TrimSuffix(key, ".bin")
	kind, partSize := "single", size
	var s3ID *string
	if size > s.cfg.PartSize {
		kind, partSize = "multipart", s.cfg.PartSize
		id, err := s.core().NewMultipartUpload(ctx, s.blob.BucketMedia, key, minio.PutObjectOptions{})
		if err != nil {
			return 0, storageError(err)
		}
		s3ID = &id
	}
	const q = `INSERT INTO upload_sessions (kind, survey_id, user_id, region_path, file_name, size, sha256, object_key,
			s3_upload_id, part_size, expires_at)
		VALUES ($1, $2, $3,
			CASE WHEN $2::bigint IS NULL THEN (SELECT region_path FROM users WHERE id = $3)
			     ELSE (SELECT region_path FROM surveys WHERE id = $2) END,
			$4, $5, $6, $7, $8, $9, $10) RETURNING id`
	var id int64
	err := tx.QueryRow(ctx, q, kind, surveyID, a.UserID, name, size, sum, key, s3ID, partSize,
		time.Now().Add(s.cfg.SessionTTL)).Scan(&id)
	if err != nil && s3ID != nil {
		_ = s.core().AbortMultipartUpload(context.WithoutCancel(ctx), s.blob.BucketMedia, key, *s3ID)
	}
	return id, err
}

func (s *Service) core() minio.Core { return minio.Core{Client: s.blob.Client} }

// presign fills a slot's URLs: one PUT, or a PUT per part not yet received.
func (s *Service) presign(ctx context.Context, a db.Actor, sl *Slot) error {
	x, err := s.session(ctx, a, sl.UploadID)
	if err != nil {
		return err
	}
	ttl := time.Until(x.expires)
	sl.Status, sl.Method, sl.ExpiresAt = "upload", "PUT", &x.expires
	if x.kind == "single" {
		u, err := s.blob.Presigner.PresignedPutObject(ctx, s.blob.BucketMedia, x.key, ttl)
		if err != nil {
			return err
		}
		sl.URL = u.String()
		return nil
	}
	done, err := s.partsDone(ctx, x)
	if err != nil {
		return err
	}
	sl.PartSize = x.partSize
	n := int((x.size + x.partSize - 1) / x.partSize)
	for p := 1; p <= n; p++ {
		if _, ok := done[p]; ok {
			sl.PartsDone = append(sl.PartsDone, p)
			continue
		}
		u, err := s.blob.Presigner.Presign(ctx, "PUT", s.blob.BucketMedia, x.key, ttl,
			url.Values{"partNumber": {strconv.Itoa(p)}, "uploadId": {*x.s3ID}})
		if err != nil {
			return err
		}
		sl.Parts = append(sl.Parts, PartURL{Number: p, URL: u.String()})
	}
	return nil
}

// partsDone lists the parts of a multipart upload that MinIO holds.
func (s *Service) partsDone(ctx context.Context, x session) (map[int]minio.ObjectPart, error) {
	done := map[int]minio.ObjectPart{}
	marker := 0
	for {
		res, err := s.core().ListObjectParts(ctx, s.blob.BucketMedia, x.key, *x.s3ID, marker, 1000)
		if err != nil {
			return nil, err
		}
		for _, p := range res.ObjectParts {
			done[p.PartNumber] = p
		}
		if !res.IsTruncated {
			return done, nil
		}
		marker = res.NextPartNumberMarker
	}
}

func (s *Service) session(ctx context.Context, a db.Actor, id int64) (session, error) {
	var x session
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		x, err = scanSession(tx.QueryRow(ctx, `SELECT `+sessionCols+` FROM upload_sessions WHERE id = $1`, id))
		return err
	})
	return x, db.MapError(err)
}

// Complete finishes an upload session once its bytes are in MinIO: it assembles the parts,
// checks the length, the header (format, limits), the structure and the declared SHA-256, and
// records the medium. A refused file is removed from MinIO and its
// session marked rejected with why. Completing again returns the same medium.
func (s *Service) Complete(ctx context.Context, a db.Actor, surveyID *int64, uploadID int64) (Medium, error) {
	var x session
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if surveyID != nil {
			if _, err := s.GetSurvey(ctx, tx, *surveyID); err != nil {
				return err
			}
		}
		var err error
		x, err = scanSession(tx.QueryRow(ctx, `SELECT `+sessionCols+` FROM upload_sessions WHERE id = $1`, uploadID))
		if err != nil {
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
	m, created, err := s.record(ctx, a, rec, func(tx pgx.Tx) error { return nil })
	if err != nil {
		return Medium{}, err
	}
	if !created && m.objectKey != x.key { // the same content was stored meanwhile: keep the first
		_ = s.blob.Client.RemoveObject(context.WithoutCancel(ctx), s.blob.BucketMedia, x.key, minio.RemoveObjectOptions{})
	}
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE upload_sessions SET status = 'completed', media_id = $2, updated_at = now()
			WHERE id = $1`, x.id, m.ID)
		return err
	})
	return m, db.MapError(err)
}

func (s *Service) getAs(ctx context.Context, a db.Actor, id int64) (Medium, error) {
	var m Medium
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		m, err = s.Get(ctx, tx, id)
		return err
	})
	return m, err
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
		_, err := tx.Exec(cctx, `UPDATE upload_sessions SET status = 'rejected', reason_code = $2, reason = $3,
			updated_at = now() WHERE id = $1`, x.id, code, reason)
		return err
	}); uerr != nil {
		s.log.Warn("media: record rejection", "upload_id", x.id, "err", uerr)
	}
	return err
}

// CleanupResult counts what one cleanup run removed.
type CleanupResult struct {
	Sessions  int // expired upload sessions
	Intents   int // objects left by crashed direct uploads
	Multipart int // multipart uploads that no session holds
}

// Cleanup expires the pending upload sessions past their time (aborting their multipart
// uploads and removing any object they left), removes the objects of direct uploads that a
// crash left unrecorded, and aborts multipart uploads that no session holds (AbortOrphanUploads).
// Run it periodically (the upload_cleanup job does); it is idempotent.
func (s *Service) Cleanup(ctx context.Context) (CleanupResult, error) {
	var res CleanupResult
	var expired []session
	err := db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+sessionCols+` FROM upload_sessions
			WHERE status = 'pending' AND expires_at < now() ORDER BY expires_at LIMIT 1000`)
		if err != nil {
			return err
		}
		expired, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (session, error) { return scanSession(r) })
		return err
	})
	if err != nil {
		return res, err
	}
	for _, x := range expired {
		if x.s3ID != nil {
			err := s.core().AbortMultipartUpload(ctx, s.blob.BucketMedia, x.key, *x.s3ID)
			if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
				return res, fmt.Errorf("media: abort upload %d: %w", x.id, err)
			}
		}
		if err := s.blob.Client.RemoveObject(ctx, s.blob.BucketMedia, x.key, minio.RemoveObjectOptions{}); err != nil {
			return res, fmt.Errorf("media: remove object of upload %d: %w", x.id, err)
		}
		err := db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE upload_sessions SET status = 'expired', reason_code = 'upload_expired',
				reason = '上传会话已过期，文件未传完', updated_at = now() WHERE id = $1 AND status = 'pending'`, x.id)
			return err
		})
		if err != nil {
			return res, err
		}
		res.Sessions++
	}

	var keys []string
	err = db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT object_key FROM upload_intents WHERE created_at < $1 LIMIT 1000`,
			time.Now().Add(-s.cfg.IntentTTL))
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return res, err
	}
	for _, k := range keys {
		// A recorded medium owns its object (an intent is normally dropped with the insert).
		var owned bool
		if err := db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM media WHERE object_key = $1)`, k).Scan(&owned)
		}); err != nil {
			return res, err
		}
		if !owned {
			if err := s.blob.Client.RemoveObject(ctx, s.blob.BucketMedia, k, minio.RemoveObjectOptions{}); err != nil {
				return res, fmt.Errorf("media: remove orphan %s: %w", k, err)
			}
		}
		if err := db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM upload_intents WHERE object_key = $1`, k)
			return err
		}); err != nil {
			return res, err
		}
		res.Intents++
	}
	n, err := s.AbortOrphanUploads(ctx, s.cfg.IntentTTL)
	res.Multipart = n
	if err != nil {
		return res, err
	}
	if res.Sessions+res.Intents+res.Multipart > 0 {
		s.log.Info("media: cleanup", "expired_sessions", res.Sessions, "orphans_removed", res.Intents,
			"multipart_aborted", res.Multipart)
	}
	return res, nil
}

// AbortOrphanUploads aborts the multipart uploads in the media bucket begun more than olderThan
// ago that no pending upload session holds. A session's multipart upload is begun inside the
// transaction that records the session; when that transaction fails (another file of the same
// request refused, the database away) the upload is left in MinIO holding whatever parts
// arrived, and nothing else would ever remove it.
func (s *Service) AbortOrphanUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	var old []minio.ObjectMultipartInfo
	var ids []string
	for u := range s.blob.Client.ListIncompleteUploads(ctx, s.blob.BucketMedia, "", true) {
		if u.Err != nil {
			return 0, storageError(u.Err)
		}
		if u.Initiated.Before(cutoff) {
			old, ids = append(old, u), append(ids, u.UploadID)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	var held []string
	err := db.AsSystem(ctx, s.pool, "upload-cleanup", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT s3_upload_id FROM upload_sessions WHERE s3_upload_id = ANY ($1) AND status = 'pending'`, ids)
		if err != nil {
			return err
		}
		held, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range old {
		if slices.Contains(held, u.UploadID) {
			continue
		}
		if err := s.core().AbortMultipartUpload(ctx, s.blob.BucketMedia, u.Key, u.UploadID); err != nil &&
			minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return n, fmt.Errorf("media: abort orphan upload %s: %w", u.Key, err)
		}
		n++
	}
	return n, nil
}
