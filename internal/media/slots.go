package media

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
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
	// DuplicateOf names the file of the same survey with the same bytes, when this one is a
	// copy under another name ("exists" when it is stored, "duplicate" when it is being
	// uploaded in the same batch): stored once, both names listed.
	DuplicateOf string `json:"duplicateOf,omitempty"`
	// LinkedFrom is the survey that stored these bytes first: the image is now listed in this
	// survey too (status "exists").
	LinkedFrom *int64 `json:"linkedFrom,omitempty"`
}

// PartURL is the presigned PUT URL of one part of a multipart upload.
type PartURL struct {
	Number int    `json:"number"`
	URL    string `json:"url"`
}

// MaxFilesPerRequest bounds the files one POST /surveys/{id}/uploads may announce.
const MaxFilesPerRequest = 500

// Slots answers a batch of declared files for caller a: into survey surveyID, or (nil) as
// photos. A file the caller already stored is "exists"; a file with a pending session gets the
// same session again (same object, same multipart upload, with the parts already sent), so an
// interrupted run continues where it stopped. In a survey, a file whose bytes the caller
// stored under another name in it is "exists" with DuplicateOf (the name is recorded on the
// medium), one repeated in the batch is "duplicate" with DuplicateOf, and one stored by
// another survey is linked into this one ("exists" with LinkedFrom): stored once, listed by
// both.
func (s *Service) Slots(ctx context.Context, a db.Actor, surveyID *int64, files []FileDecl) ([]Slot, error) {
	if len(files) == 0 {
		return nil, apperr.Invalidf("files_required", "请至少声明一个文件", "files is empty")
	}
	if len(files) > MaxFilesPerRequest {
		return nil, apperr.Invalidf("too_many_files", "单次最多声明 500 个文件", "at most %d files per request", MaxFilesPerRequest)
	}
	out := make([]Slot, len(files))
	var todo []int
	// firstOf is the first file of the batch with some content.
	type firstOf struct {
		name     string
		uploadID int64
		mediaID  *int64
	}
	seen := map[string]firstOf{}
	err := db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if surveyID != nil {
			if _, err := s.store.GetSurvey(ctx, tx, *surveyID); err != nil {
				return err
			}
		}
		// The quota (quota.go): what the user has pending, counted under the user's lock.
		pending, pendingBytes, err := s.store.pendingLoad(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		q := s.cfg.Quota
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
			if surveyID != nil {
				if first, ok := seen[sl.SHA256]; ok && first.name != sl.Name {
					sl.Status, sl.DuplicateOf, sl.MediaID = "duplicate", first.name, first.mediaID
					if first.uploadID != 0 {
						if err := s.store.addSessionDuplicate(ctx, tx, first.uploadID, sl.Name); err != nil {
							return err
						}
					} else if first.mediaID != nil {
						if err := s.store.addDuplicateName(ctx, tx, *first.mediaID, sl.Name); err != nil {
							return err
						}
					}
					continue
				}
			}
			var survey int64
			if surveyID != nil {
				survey = *surveyID
			}
			c, err := s.store.copyBySHA(ctx, tx, a.UserID, sum, survey)
			if err == nil {
				sl.Status, sl.MediaID = "exists", &c.id
				switch {
				case surveyID == nil:
				case c.inSurvey && c.name != sl.Name:
					sl.DuplicateOf = c.name
					if err := s.store.addDuplicateName(ctx, tx, c.id, sl.Name); err != nil {
						return err
					}
				case !c.inSurvey && c.surveyID != nil:
					sl.LinkedFrom = c.surveyID
					if err := s.store.linkToSurvey(ctx, tx, c.id, survey); err != nil {
						return err
					}
				}
				seen[sl.SHA256] = firstOf{name: sl.Name, mediaID: &c.id}
				if c.inSurvey && c.name != sl.Name {
					seen[sl.SHA256] = firstOf{name: c.name, mediaID: &c.id}
				}
				continue
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			x, err := s.store.pendingSession(ctx, tx, a.UserID, sum)
			switch {
			case err == nil && x.size == f.Size:
				// Continue it, for this survey, a while longer.
				if err := s.store.extendSession(ctx, tx, x.id, surveyID, sl.Name, s.now().Add(s.cfg.SessionTTL)); err != nil {
					return err
				}
				sl.UploadID = x.id
				seen[sl.SHA256] = firstOf{name: sl.Name, uploadID: x.id}
				todo = append(todo, i)
				continue
			case err == nil: // same content, other size: the old session is wrong; end it
				if err := s.store.supersedeSession(ctx, tx, x.id); err != nil {
					return err
				}
				pending, pendingBytes = pending-1, pendingBytes-x.size
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
			if (q.MaxPendingSessions > 0 && pending+1 > q.MaxPendingSessions) ||
				(q.MaxPendingBytes > 0 && pendingBytes+f.Size > q.MaxPendingBytes) {
				return ErrUploadQuota.WithDetails(map[string]any{"pending": pending, "pendingBytes": pendingBytes,
					"maxPending": q.MaxPendingSessions, "maxPendingBytes": q.MaxPendingBytes, "file": sl.Name})
			}
			pending, pendingBytes = pending+1, pendingBytes+f.Size
			id, err := s.newSession(ctx, tx, a, surveyID, sl.Name, f.Size, sum)
			if err != nil {
				return err
			}
			sl.UploadID = id
			seen[sl.SHA256] = firstOf{name: sl.Name, uploadID: id}
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
	now := s.now()
	key := strings.TrimSuffix(newObjectKey(now, imagery.Format("bin")), ".bin")
	x := session{kind: "single", surveyID: surveyID, userID: a.UserID, name: name, size: size, sha: sum,
		key: key, partSize: size, expires: now.Add(s.cfg.SessionTTL)}
	if size > s.cfg.PartSize {
		id, err := s.core().NewMultipartUpload(ctx, s.blob.BucketMedia, key, minio.PutObjectOptions{})
		if err != nil {
			return 0, storageError(err)
		}
		x.kind, x.partSize, x.s3ID = "multipart", s.cfg.PartSize, &id
	}
	id, err := s.store.insertSession(ctx, tx, x)
	if err != nil && x.s3ID != nil {
		_ = s.core().AbortMultipartUpload(context.WithoutCancel(ctx), s.blob.BucketMedia, key, *x.s3ID)
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
	ttl := x.expires.Sub(s.now())
	sl.Status, sl.Method, sl.ExpiresAt = "upload", "PUT", &x.expires
	if x.kind == "single" {
		// The signed Content-Length binds the URL to the declared size (integrity.go).
		u, err := s.blob.Presigner.PresignHeader(ctx, http.MethodPut, s.blob.BucketMedia, x.key, ttl, nil, lengthHeader(x.size))
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
		want := x.partSize
		if p == n {
			want = x.size - int64(n-1)*x.partSize
		}
		u, err := s.blob.Presigner.PresignHeader(ctx, http.MethodPut, s.blob.BucketMedia, x.key, ttl,
			url.Values{"partNumber": {strconv.Itoa(p)}, "uploadId": {*x.s3ID}}, lengthHeader(want))
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

// session returns upload session id visible to a, or apperr.ErrNotFound.
func (s *Service) session(ctx context.Context, a db.Actor, id int64) (session, error) {
	return readAs(ctx, s.pool, a, func(tx pgx.Tx) (session, error) { return s.store.session(ctx, tx, id) })
}
