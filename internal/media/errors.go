package media

import (
	"errors"
	"net/http"

	"github.com/sieve-city/sieve/imagery"
	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/blob"
)

// The errors uploads answer with. Codes are part of the API contract: never rename one.
var (
	ErrEmptyFile          = apperr.New(http.StatusUnsupportedMediaType, "empty_file", "the file is empty", "文件为空")
	ErrUnsupportedFormat  = apperr.New(http.StatusUnsupportedMediaType, "unsupported_format", "not a JPEG, PNG, HEIC/HEIF, WebP or TIFF image (judged by content, not by name)", "不支持的文件格式（按文件内容判断，支持 JPEG、PNG、HEIC/HEIF、WebP、TIFF）")
	ErrFileTooLarge       = apperr.New(http.StatusRequestEntityTooLarge, "file_too_large", "the file is larger than the upload limit", "文件超过上传大小限制")
	ErrTooManyPixels      = apperr.New(http.StatusRequestEntityTooLarge, "too_many_pixels", "the image has more pixels than allowed", "图片像素数超过限制")
	ErrCorruptImage       = apperr.New(http.StatusUnprocessableEntity, "corrupt_image", "the image is truncated or damaged", "图片文件损坏或不完整")
	ErrSizeMismatch       = apperr.New(http.StatusUnprocessableEntity, "size_mismatch", "the file's length differs from the declared size", "文件实际大小与声明不符")
	ErrUploadInterrupted  = apperr.New(http.StatusBadRequest, "upload_interrupted", "the upload was cut off before the end of the file", "上传中断，文件不完整，请重新上传")
	ErrHashMismatch       = apperr.New(http.StatusUnprocessableEntity, "hash_mismatch", "the file's content does not match its declared SHA-256 (damaged on the way); upload it again", "文件内容与声明的 SHA-256 不一致（传输中损坏），请重新上传")
	ErrUploadIncomplete   = apperr.New(http.StatusConflict, "upload_incomplete", "not every byte of the upload has arrived yet", "文件尚未全部上传完成")
	ErrUploadExpired      = apperr.New(http.StatusGone, "upload_expired", "the upload session has expired; ask for a new one", "上传会话已过期，请重新申请")
	ErrUploadRejected     = apperr.New(http.StatusConflict, "upload_rejected", "this upload was rejected", "该文件已被拒收")
	ErrStorageUnavailable = apperr.New(http.StatusServiceUnavailable, "storage_unavailable", "the file store is unavailable; nothing was stored, try again later", "文件存储暂时不可用，本次未保存任何内容，请稍后重试")
	ErrFileRequired       = apperr.New(http.StatusBadRequest, "file_required", "the multipart form has no part named file", "缺少文件（表单字段 file）")
	ErrNotMultipart       = apperr.New(http.StatusUnsupportedMediaType, "multipart_required", "send the file as multipart/form-data", "请以 multipart/form-data 格式上传文件")
	ErrThumbnailPending   = apperr.New(http.StatusConflict, "thumbnail_pending", "the thumbnail is not made yet; try again shortly", "缩略图正在生成，请稍后再试")
	ErrNoThumbnail        = apperr.New(http.StatusConflict, "no_thumbnail", "no thumbnail can be made of this image format (e.g. HEIC); fetch the original", "该格式（如 HEIC）无法生成缩略图，请下载原图")
	ErrBadSize            = apperr.New(http.StatusBadRequest, "invalid_size", "unknown thumbnail size", "缩略图尺寸无效")
)

// classify turns an imagery error into the public error an upload answers with.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, imagery.ErrEmpty):
		return ErrEmptyFile.Wrap(err)
	case errors.Is(err, imagery.ErrUnsupportedFormat):
		return ErrUnsupportedFormat.Wrap(err)
	case errors.Is(err, imagery.ErrTooLarge):
		return ErrFileTooLarge.Wrap(err)
	case errors.Is(err, imagery.ErrTooManyPixels):
		return ErrTooManyPixels.Wrap(err)
	case errors.Is(err, imagery.ErrCorruptImage):
		return ErrCorruptImage.Wrap(err)
	}
	return err
}

// storageError maps a failure of the object store: unreachable is 503 storage_unavailable.
func storageError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if blob.IsUnavailable(err) {
		return ErrStorageUnavailable.Wrap(err)
	}
	return err
}
