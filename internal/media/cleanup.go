package media

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/db"
)

// CleanupResult counts what one cleanup run removed.
type CleanupResult struct {
	Sessions  int // expired upload sessions
	Intents   int // objects left by crashed direct uploads
	Multipart int // multipart uploads that no session holds
	Staging   int // staging objects of finished sessions whose URLs are dead
}

// cleanupActor names the cleanup in the audit log.
const cleanupActor = "upload-cleanup"

// Cleanup expires the pending upload sessions past their time by the service's clock
// (aborting their multipart uploads and removing any object they left), removes the objects
// of direct uploads that a crash left unrecorded, and aborts multipart uploads that no session
// holds (AbortOrphanUploads). Run it periodically (the upload_cleanup job does); it is
// idempotent.
func (s *Service) Cleanup(ctx context.Context) (CleanupResult, error) {
	var res CleanupResult
	now := s.now()
	expired, err := asSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) ([]session, error) {
		return s.store.expiredSessions(ctx, tx, now)
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
		if err := db.AsSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) error {
			return s.store.expireSession(ctx, tx, x.id)
		}); err != nil {
			return res, err
		}
		res.Sessions++
	}

	keys, err := asSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) ([]string, error) {
		return s.store.oldIntents(ctx, tx, now.Add(-s.cfg.IntentTTL))
	})
	if err != nil {
		return res, err
	}
	for _, k := range keys {
		// A recorded medium owns its object (an intent is normally dropped with the insert).
		owned, err := asSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) (bool, error) { return s.store.objectOwned(ctx, tx, k) })
		if err != nil {
			return res, err
		}
		if !owned {
			if err := s.blob.Client.RemoveObject(ctx, s.blob.BucketMedia, k, minio.RemoveObjectOptions{}); err != nil {
				return res, fmt.Errorf("media: remove orphan %s: %w", k, err)
			}
		}
		if err := db.AsSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) error {
			return s.store.deleteIntent(ctx, tx, k)
		}); err != nil {
			return res, err
		}
		res.Intents++
	}
	// A PUT through a finished session's URL after completion left a staging object that no
	// medium refers to (integrity.go); once the URLs are dead, remove it one last time.
	var staged struct {
		ids  []int64
		keys []string
	}
	err = db.AsSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) error {
		var err error
		staged.ids, staged.keys, err = s.store.unclearedStaging(ctx, tx, now)
		return err
	})
	if err != nil {
		return res, err
	}
	for _, k := range staged.keys {
		if err := s.blob.Client.RemoveObject(ctx, s.blob.BucketMedia, k, minio.RemoveObjectOptions{}); err != nil {
			return res, fmt.Errorf("media: remove staging object %s: %w", k, err)
		}
	}
	if len(staged.ids) > 0 {
		if err := db.AsSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) error {
			return s.store.stagingCleared(ctx, tx, staged.ids)
		}); err != nil {
			return res, err
		}
		res.Staging = len(staged.ids)
	}
	n, err := s.AbortOrphanUploads(ctx, s.cfg.IntentTTL)
	res.Multipart = n
	if err != nil {
		return res, err
	}
	if res.Sessions+res.Intents+res.Multipart+res.Staging > 0 {
		s.log.Info("media: cleanup", "expired_sessions", res.Sessions, "orphans_removed", res.Intents,
			"multipart_aborted", res.Multipart, "staging_cleared", res.Staging)
	}
	return res, nil
}

// AbortOrphanUploads aborts the multipart uploads in the media bucket begun more than olderThan
// ago (by the service's clock) that no pending upload session holds. A session's multipart
// upload is begun inside the transaction that records the session; when that transaction
// fails (another file of the same request refused, the database away) the upload is left in
// MinIO holding whatever parts arrived, and nothing else would ever remove it.
func (s *Service) AbortOrphanUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.now().Add(-olderThan)
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
	held, err := asSystem(ctx, s.pool, cleanupActor, func(tx pgx.Tx) ([]string, error) { return s.store.heldUploads(ctx, tx, ids) })
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
