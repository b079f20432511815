// Package chinatime is the campaign's time zone: China Standard Time (北京时间, UTC+8; no
// daylight saving since 1991, so no zone database is needed). Days, months and deadlines fall
// in it: a ledger's month and 填报日期, a filing's deadline at midnight, the day a tip was
// closed, a photo's EXIF time written without an offset. One zone for every package, so that
// none counts a day differently.
package chinatime

import "time"

// Zone is China Standard Time.
var Zone = time.FixedZone("CST", 8*3600)
