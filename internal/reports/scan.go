package reports

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/blob"
	"github.com/sieve-city/sieve/internal/db"
)

// AttachScan attaches the scan or photo of the stamped sheets (盖章扫描件) to filing id: a JPEG
// or PNG (sniffed by its bytes and checked to the end as photo uploads are, internal/imagery)
// or a PDF (header and end-of-file marker), at most Config.ScanMaxBytes. The filing is looked up
// first (out of scope: 404 whatever is sent). The same scan again answers the filing, created
// false; another one is 409 scan_already_attached (a correction carries its own).
func (s *Service) AttachScan(ctx context.Context, a db.Actor, id int64, body io.Reader) (Filing, bool, error) {
	var f Filing
	err := db.ReadInScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		var err error
		f, err = s.store.get(ctx, tx, id)
		return err
	})
	if err != nil {
		return Filing{}, false, err
	}
	data, err := io.ReadAll(io.LimitReader(body, s.cfg.ScanMaxBytes+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Filing{}, false, ErrScanTooLarge.Wrap(err)
		}
		return Filing{}, false, apperr.ErrBadRequest.Wrap(err)
	}
	if int64(len(data)) > s.cfg.ScanMaxBytes {
		return Filing{}, false, ErrScanTooLarge
	}
	ext, ctype, err := CheckScan(data)
	if err != nil {
		return Filing{}, false, err
	}
	hash := sum(data)
	for _, fi := range f.Files {
		if fi.Part != PartScan {
			continue
		}
		if fi.SHA256 == hash {
			s.decorate(&f)
			return f, false, nil
		}
		return Filing{}, false, ErrScanExists
	}
	now := s.now()
	fi := FileInfo{Part: PartScan, Name: fmt.Sprintf("盖章扫描件_%s_%s%s", f.TownshipName, f.Month, ext), ContentType: ctype,
		Size: int64(len(data)), SHA256: hash, AddedAt: now,
		objectKey: fmt.Sprintf("reports/%d/%s/%s-scan%s", f.TownshipID, f.Month, newToken(), ext)}
	if err := s.put(ctx, s.blob.BucketMedia, fi.objectKey, data, ctype); err != nil {
		return Filing{}, false, err
	}
	err = db.InScope(ctx, s.pool, a, func(tx pgx.Tx) error {
		if err := s.store.insertFile(ctx, tx, id, fi, a.UserID); err != nil {
			return err
		}
		var err error
		f, err = s.store.get(ctx, tx, id)
		return err
	})
	if err != nil {
		s.remove(s.blob.BucketMedia, fi.objectKey)
		if errors.Is(err, apperr.ErrConflict) { // another scan arrived first
			again, gerr := s.Get(ctx, a, id)
			if gerr != nil {
				return Filing{}, false, gerr
			}
			for _, x := range again.Files {
				if x.Part == PartScan && x.SHA256 == hash {
					return again, false, nil
				}
			}
			return Filing{}, false, ErrScanExists
		}
		return Filing{}, false, err
	}
	s.decorate(&f)
	return f, true, nil
}

// CheckScan tells a scan's extension and media type from its bytes: JPEG and PNG go through
// the photo uploads' checks (imagery.Sniff, imagery.Probe's header parse, the stream checker
// to the end of the file), a PDF must start with %PDF- and end with %%EOF. Anything else is 415
// unsupported_scan_type, a damaged file 422 corrupt_scan.
func CheckScan(data []byte) (ext, contentType string, err error) {
	if len(data) == 0 {
		return "", "", ErrScanEmpty
	}
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		tail := data[max(0, len(data)-1024):]
		if !bytes.Contains(tail, []byte("%%EOF")) {
			return "", "", ErrScanCorrupt.Wrap(errors.New("pdf without %%EOF"))
		}
		return ".pdf", "application/pdf", nil
	}
	f, err := imagery.Sniff(data[:min(len(data), imagery.SniffLen)])
	if err != nil || (f != imagery.JPEG && f != imagery.PNG) {
		return "", "", ErrScanType.Wrap(fmt.Errorf("sniffed %q: %v", f, err))
	}
	if _, err := imagery.Probe(bytes.NewReader(data), int64(len(data))); err != nil {
		return "", "", ErrScanCorrupt.Wrap(err)
	}
	c := imagery.NewStreamChecker(f)
	if _, err := c.Write(data); err != nil {
		return "", "", ErrScanCorrupt.Wrap(err)
	}
	if err := c.Finish(); err != nil {
		return "", "", ErrScanCorrupt.Wrap(err)
	}
	if f == imagery.JPEG {
		return ".jpg", f.MIMEType(), nil
	}
	return ".png", f.MIMEType(), nil
}

// put writes one object; a store that cannot be reached is 503 storage_unavailable.
func (s *Service) put(ctx context.Context, bucket, key string, body []byte, ctype string) error {
	_, err := s.blob.Client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: ctype, SendContentMd5: true})
	if err != nil {
		if blob.IsUnavailable(err) {
			return ErrStorage.Wrap(err)
		}
		return fmt.Errorf("reports: put %s: %w", key, err)
	}
	return nil
}

// get reads one object of known size (at most size+1 bytes, so a grown object shows).
func (s *Service) get(ctx context.Context, bucket, key string, size int64) ([]byte, error) {
	obj, err := s.blob.Client.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.readError(key, err)
	}
	defer obj.Close()
	body, err := io.ReadAll(io.LimitReader(obj, size+1))
	if err != nil {
		return nil, s.readError(key, err)
	}
	return body, nil
}

func (s *Service) readError(key string, err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		s.log.Error("reports: a recorded file is missing from the store", "key", key)
		return ErrFileDamaged.Wrap(err)
	}
	if blob.IsUnavailable(err) {
		return apperr.ErrUnavailable.Wrap(err)
	}
	return fmt.Errorf("reports: get %s: %w", key, err)
}

// remove deletes objects that no committed row names, on a context of its own (the request's
// may be gone); what fails here the cleanup removes later.
func (s *Service) remove(bucket string, keys ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if err := s.blob.Client.RemoveObject(ctx, bucket, k, minio.RemoveObjectOptions{}); err != nil {
			s.log.Warn("reports: remove unrecorded object (the cleanup will retry)", "key", k, "err", err)
		}
	}
}

func keysOf(files []FileInfo) []string {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.objectKey
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// newToken is a random object-key component: no two attempts share a key.
func newToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// extension is a file's extension from its name, else from its media type.
func extension(name, ctype string) string {
	if e := strings.ToLower(path.Ext(name)); e != "" && len(e) <= 6 {
		return e
	}
	switch {
	case strings.Contains(ctype, "spreadsheetml"):
		return ".xlsx"
	case strings.HasPrefix(ctype, "text/csv"):
		return ".csv"
	}
	return ".bin"
}
