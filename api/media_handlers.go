package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/media"
)

// uploadMedia takes one photo as multipart/form-data: an optional field "size" (the file's
// length, which lets it stream to MinIO in one PUT) and the part "file". The file streams
// through; a retry with the same Idempotency-Key (and the same file: another file under a used
// key is 422 idempotency_key_reused), or the same content again, answers 200 with the first
// record instead of 201. One user sends at most Quota.MaxOpenUploads bodies at once (429
// too_many_open_uploads past it), and a body that stalls for BodyIdleTimeout is cut off.
func (s *Server) uploadMedia(c echo.Context) error {
	key, err := idempotencyKey(c)
	if err != nil {
		return err
	}
	a := s.actor(c)
	ctx := c.Request().Context()
	release, err := s.Media.AdmitUpload(a.UserID)
	if err != nil {
		return err
	}
	defer release()
	var first *media.Medium // the medium already recorded under key
	if key != "" {
		m, err := s.Media.ByIdempotencyKey(ctx, a, key)
		switch {
		case err == nil:
			first = &m
		case !errors.Is(err, apperr.ErrNotFound):
			return err
		}
	}
	mc := s.Media.Config()
	withIdle(c, mc.BodyIdleTimeout, mc.BodyTotalTimeout)
	mr, releaseBuf, err := multipartReader(c.Request())
	defer releaseBuf()
	if err != nil {
		return media.ErrNotMultipart.Wrap(err)
	}
	size := int64(-1)
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return media.ErrFileRequired
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return media.ErrFileTooLarge.Wrap(err)
			}
			return media.ErrUploadInterrupted.Wrap(err)
		}
		switch part.FormName() {
		case "size":
			b, err := io.ReadAll(io.LimitReader(part, 32))
			if err != nil {
				return media.ErrUploadInterrupted.Wrap(err)
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil || n < 0 {
				return apperr.New(http.StatusBadRequest, "invalid_size_field", "the size field must be a byte count", "size 字段应为文件字节数")
			}
			size = n
		case "file":
			if first != nil { // a retry: it must be the same file
				if err := s.Media.SameUpload(*first, size, part); err != nil {
					return err
				}
				c.Response().Header().Set(echo.HeaderLocation, v1+"/media/"+itoa(first.ID))
				return c.JSON(http.StatusOK, first)
			}
			m, created, err := s.Media.Ingest(ctx, a, media.Upload{Body: part, Size: size, Name: part.FileName(), IdempotencyKey: key})
			if err != nil {
				return err
			}
			c.Response().Header().Set(echo.HeaderLocation, v1+"/media/"+itoa(m.ID))
			return createdOrSame(c, created, m)
		default:
			if _, err := io.Copy(io.Discard, io.LimitReader(part, 64<<10)); err != nil {
				return media.ErrUploadInterrupted.Wrap(err)
			}
		}
	}
}

// medium loads the medium named by the path in the caller's scope.
func (s *Server) medium(c echo.Context) (media.Medium, error) {
	id, err := pathID(c, "id")
	if err != nil {
		return media.Medium{}, err
	}
	return read(s, c, func(ctx context.Context, tx pgx.Tx) (media.Medium, error) {
		return s.Media.Get(ctx, tx, id)
	})
}

func (s *Server) getMedia(c echo.Context) error {
	m, err := s.medium(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

// getMediaOriginal redirects to a short-lived presigned URL of the original.
func (s *Server) getMediaOriginal(c echo.Context) error {
	m, err := s.medium(c)
	if err != nil {
		return err
	}
	u, err := s.Media.OriginalURL(c.Request().Context(), m)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, no-store")
	return c.Redirect(http.StatusFound, u)
}

// getMediaThumbnail redirects to a short-lived presigned URL of a thumbnail; its ETag is given
// on the redirect, and a matching If-None-Match answers 304.
func (s *Server) getMediaThumbnail(c echo.Context) error {
	m, err := s.medium(c)
	if err != nil {
		return err
	}
	size := c.QueryParam("size")
	if size == "" {
		size = "list"
	}
	t, err := s.Media.Thumbnail(m, size)
	if err != nil {
		return err
	}
	etag := `"` + strings.Trim(t.ETag, `"`) + `"`
	c.Response().Header().Set("ETag", etag)
	c.Response().Header().Set("Cache-Control", "private, no-cache")
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && (inm == etag || inm == "*") {
		return c.NoContent(http.StatusNotModified)
	}
	u, err := s.Media.ThumbnailURL(c.Request().Context(), t)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}

type uploadsRequest struct {
	Files []media.FileDecl `json:"files"`
}

// createUploads hands out presigned upload slots for photos too large or networks too poor for
// one POST /media: each file one PUT, or (larger than the part size) a resumable S3 multipart
// upload with one presigned URL per part.
func (s *Server) createUploads(c echo.Context) error {
	var req uploadsRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	slots, err := s.Media.Slots(c.Request().Context(), s.actor(c), nil, req.Files)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, List[media.Slot]{Items: slots})
}

// completeUpload records the photo of a finished upload slot.
func (s *Server) completeUpload(c echo.Context) error {
	id, err := pathID(c, "id")
	if err != nil {
		return err
	}
	m, err := s.Media.Complete(c.Request().Context(), s.actor(c), nil, id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}
