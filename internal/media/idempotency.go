package media

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
)

// ErrIdempotencyKeyReused answers a POST /media whose Idempotency-Key was first used for
// another file: a retry must send the same file (the IETF draft on the Idempotency-Key header
// answers 422 to a key reused with another payload). Returning the first record instead would
// tell the client that its new photo was stored when it was not.
var ErrIdempotencyKeyReused = apperr.New(http.StatusUnprocessableEntity, "idempotency_key_reused",
	"this Idempotency-Key was already used for another file; send a new key with a new file",
	"该 Idempotency-Key 已用于另一个文件，新文件请使用新的 Idempotency-Key")

// SameUpload checks that a retry under m's Idempotency-Key sends m's file again: the declared
// size (when given, -1 when not) and then the body, hashed as it is read (never stored), must
// match m. It answers ErrIdempotencyKeyReused when they do not.
func (s *Service) SameUpload(m Medium, size int64, body io.Reader) error {
	if size >= 0 && size != m.Size {
		return ErrIdempotencyKeyReused.Wrap(fmt.Errorf("media: key of %d: declared %d bytes, first %d", m.ID, size, m.Size))
	}
	h := sha256.New()
	br := &bodyReader{r: body}
	n, err := io.Copy(h, io.LimitReader(br, m.Size+1))
	if br.err != nil {
		return bodyError(br.err)
	}
	if err != nil {
		return bodyError(err)
	}
	if n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256 {
		return ErrIdempotencyKeyReused.Wrap(fmt.Errorf("media: key of %d: another file", m.ID))
	}
	return nil
}

// keyReused reports, in record's transaction, whether user's Idempotency-Key idem already
// names a medium with other content than sum.
func (s *Service) keyReused(ctx context.Context, tx pgx.Tx, userID int64, idem string, sum []byte) (bool, error) {
	if idem == "" {
		return false, nil
	}
	first, err := s.store.ByIdempotencyKey(ctx, tx, userID, idem)
	if err != nil {
		if errors.Is(err, apperr.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	want, _ := hex.DecodeString(first.SHA256)
	return !bytes.Equal(want, sum), nil
}
