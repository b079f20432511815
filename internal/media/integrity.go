package media

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/internal/apperr"
)

// Stored evidence is immutable (证据不可替换). Three rules make it so:
//
//  1. A presigned PUT URL names a staging key, and stays valid until its session's time ends:
//     S3 cannot revoke a presigned URL. So Complete never records the staging key. It makes a
//     server-side copy of the staged bytes to a fresh random key that no URL ever named
//     (sealStaged), checks what was copied, records that key and deletes the staging object.
//     A second PUT through the old URL only recreates a staging object that no medium refers
//     to (and that the cleanup removes); it cannot touch the recorded original. We chose this
//     over short-lived URLs plus bucket versioning or object lock: it needs no bucket settings
//     on the deployment's MinIO (versioning would also keep every overwrite), and works the
//     same for single PUTs and multipart uploads. The copy is server-side (MinIO reads and
//     writes on its disks, nothing crosses the network), once per file.
//  2. The copy, and the streamed PUT of POST /media, ask MinIO to store the object's SHA-256
//     (x-amz-checksum-sha256). An original is handed out (OriginalURL) only after a HEAD with
//     checksum mode shows that stored SHA-256 equal to the medium's recorded one: a cheap
//     check, no byte read. An object without a stored checksum (written by something else
//     than Sieve) is hashed by reading it once. A mismatch is refused with
//     ErrOriginalAltered and logged at error level.
//  3. Each presigned PUT signs its Content-Length (the declared size, or the part's), so
//     MinIO refuses a PUT of another length (SignatureDoesNotMatch) instead of storing it.

// ErrOriginalAltered answers a request for an original whose stored bytes no longer match the
// SHA-256 recorded when it was received.
var ErrOriginalAltered = apperr.New(http.StatusConflict, "original_altered",
	"the stored original no longer matches the SHA-256 recorded when it was received; it is withheld and the incident logged",
	"存储的原图与接收时记录的 SHA-256 不一致，已拒绝提供并记录在案")

// sealedKey names the final object of a presigned upload: a fresh random key in the same
// media/YYYY/MM/DD/ layout as POST /media uses, never handed out in a URL.
func (s *Service) sealedKey() string {
	return strings.TrimSuffix(newObjectKey(s.now(), "bin"), ".bin")
}

// sealStaged copies the staged object of session x, as it was when its ETag was etag, to a
// new key that no URL names, with MinIO computing and storing its SHA-256, and returns that
// key. When the staged object changed since (another PUT through the URL), the copy is
// refused and the caller is told to complete again.
func (s *Service) sealStaged(ctx context.Context, x session, etag string) (string, error) {
	final := s.sealedKey()
	_, err := s.blob.Client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.blob.BucketMedia, Object: final, ChecksumType: minio.ChecksumSHA256},
		minio.CopySrcOptions{Bucket: s.blob.BucketMedia, Object: x.key, MatchETag: etag})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "PreconditionFailed":
			return "", ErrUploadIncomplete.Wrap(fmt.Errorf("media: upload %d changed while it was being completed: %w", x.id, err))
		case "NoSuchKey":
			return "", ErrUploadIncomplete.Wrap(err)
		}
		return "", storageError(err)
	}
	return final, nil
}

// removeObject removes an object of the media bucket, logging (not returning) a failure: the
// cleanup job finds what is left.
func (s *Service) removeObject(ctx context.Context, key string) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.blob.Client.RemoveObject(cctx, s.blob.BucketMedia, key, minio.RemoveObjectOptions{}); err != nil {
		s.log.Warn("media: remove object", "key", key, "err", err)
	}
}

// checkOriginal verifies that m's stored original still has the SHA-256 recorded for it: by
// the checksum MinIO stored with the object (a HEAD), or, for an object stored without one,
// by reading it. A mismatch is logged and answered ErrOriginalAltered.
func (s *Service) checkOriginal(ctx context.Context, m Medium) error {
	opts := minio.StatObjectOptions{Checksum: true}
	st, err := s.blob.Client.StatObject(ctx, s.blob.BucketMedia, m.objectKey, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			s.log.Error("media: original missing", "media_id", m.ID, "key", m.objectKey)
			return ErrOriginalAltered.Wrap(err)
		}
		return storageError(err)
	}
	var got string
	if c := st.ChecksumSHA256; c != "" && !strings.Contains(c, "-") { // a whole-object checksum
		b, derr := base64.StdEncoding.DecodeString(c)
		if derr != nil {
			return fmt.Errorf("media: bad stored checksum of %s: %w", m.objectKey, derr)
		}
		got = hex.EncodeToString(b)
	} else {
		if got, err = s.hashObject(ctx, m.objectKey); err != nil {
			return storageError(err)
		}
	}
	if st.Size != m.Size || got != m.SHA256 {
		s.log.Error("media: original altered; refused", "media_id", m.ID, "key", m.objectKey,
			"recorded_sha256", m.SHA256, "stored_sha256", got, "recorded_size", m.Size, "stored_size", st.Size)
		return ErrOriginalAltered
	}
	return nil
}

// hashObject reads an object of the media bucket and returns its SHA-256 in hex.
func (s *Service) hashObject(ctx context.Context, key string) (string, error) {
	obj, err := s.blob.Client.GetObject(ctx, s.blob.BucketMedia, key, minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lengthHeader is the signed header that binds a presigned PUT to n bytes.
func lengthHeader(n int64) http.Header {
	return http.Header{"Content-Length": {strconv.FormatInt(n, 10)}}
}
