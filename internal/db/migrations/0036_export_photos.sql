-- Photo appendices (照片附件) of background exports (issue 13): an export of 附件2 may carry,
-- beside the workbook, the detail thumbnails of every case's photos and drone images, as one ZIP
-- (the workbook with an index sheet 照片附件, and a folder per township / 序号-企业名称). The flag
-- is part of what an export was asked for (an Idempotency-Key again must ask the same). Only 附件2
-- has cases with photos.
ALTER TABLE report_exports ADD COLUMN photos boolean NOT NULL DEFAULT false;
ALTER TABLE report_exports ADD CONSTRAINT report_exports_photos_illegal CHECK (NOT photos OR kind = 'illegal');
