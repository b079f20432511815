package media

import (
	"net/http"
	"sync"

	"github.com/sieve-city/sieve/internal/apperr"
)

// Quota bounds what one user may hold open at once (Slots counts the pending sessions under
// the user's advisory lock; AdmitUpload the bodies being received), so that no account (a bug in an app, a
// stolen token) can open unbounded multipart uploads or tie up the server's memory, disk and
// connections with stalled bodies.
type Quota struct {
	// MaxPendingSessions bounds a user's pending presigned upload sessions (one drone survey
	// of 3,000 images fits in the default).
	MaxPendingSessions int
	// MaxPendingBytes bounds the declared bytes of a user's pending sessions.
	MaxPendingBytes int64
	// MaxOpenUploads bounds the POST /media bodies one user sends at once, per process.
	MaxOpenUploads int
}

// DefaultQuota is the quota Sieve runs with: a full survey of 3,000 images of up to ~20 MB
// each pending at once, and four photos streaming at once per user.
func DefaultQuota() Quota {
	return Quota{MaxPendingSessions: 3000, MaxPendingBytes: 64 << 30, MaxOpenUploads: 4}
}

// The errors of the quotas (429, with Retry-After).
var (
	ErrUploadQuota = apperr.New(http.StatusTooManyRequests, "upload_quota_exceeded",
		"too many pending uploads (or declared bytes) for this user; finish or let expire some first",
		"未完成的上传过多（或声明的总字节数过大），请先完成部分上传")
	ErrTooManyOpenUploads = apperr.New(http.StatusTooManyRequests, "too_many_open_uploads",
		"this user already sends the most photos at once that the server takes; retry when one is done",
		"同时上传的照片过多，请等前面的上传完成后再试")
)

// openUploads counts the POST /media bodies being received per user in this process.
type openUploads struct {
	mu sync.Mutex
	n  map[int64]int
}

// AdmitUpload reserves one of user's open POST /media uploads (Quota.MaxOpenUploads), or
// answers ErrTooManyOpenUploads at once; call release when the body is read.
func (s *Service) AdmitUpload(userID int64) (release func(), err error) {
	max := s.cfg.Quota.MaxOpenUploads
	if max <= 0 {
		return func() {}, nil
	}
	o := &s.open
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[int64]int{}
	}
	if o.n[userID] >= max {
		return func() {}, ErrTooManyOpenUploads
	}
	o.n[userID]++
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.n[userID]--; o.n[userID] <= 0 {
				delete(o.n, userID)
			}
		})
	}, nil
}
