package inspections

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sieve-city/sieve/gis"
)

// MaxClockSkew is how far in the future a phone's visit time may lie (its clock may be ahead).
const MaxClockSkew = 10 * time.Minute

// maxPhotos bounds the photos one inspection cites.
const maxPhotos = 20

// maxParticipants is the most people named as going with the inspector (migration 0026).
const maxParticipants = 20

var uuidForm = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// canonical returns the request as it is stored and compared: ids lower-case, times in UTC,
// empty lists instead of none, the ignored inspector id dropped, the text trimmed.
func canonical(r Request) Request {
	r.ID = strings.ToLower(strings.TrimSpace(r.ID))
	r.VisitedAt = r.VisitedAt.UTC()
	r.InspectorID = nil
	r.Note = strings.TrimSpace(r.Note)
	for i, p := range r.Participants {
		r.Participants[i] = strings.TrimSpace(p)
	}
	if r.Findings == nil {
		r.Findings = []string{}
	}
	if r.MediaIDs == nil {
		r.MediaIDs = []int64{}
	}
	if r.RecheckOf != nil {
		v := strings.ToLower(strings.TrimSpace(*r.RecheckOf))
		r.RecheckOf = &v
	}
	for _, p := range []*Position{r.Position, positionOf(r.NewPremise)} {
		if p != nil && p.CRS == "" {
			p.CRS = "wgs84"
		}
	}
	return r
}

func positionOf(n *NewPremise) *Position {
	if n == nil {
		return nil
	}
	return &n.Position
}

// hashOf is the SHA-256 of the canonical body: the same id with another hash is a conflict.
func hashOf(r Request) []byte {
	b, _ := json.Marshal(r) // a struct of plain fields: cannot fail
	h := sha256.Sum256(b)
	return h[:]
}

// validate checks a canonical request against the clock; what needs the database (premise,
// round, media) is checked by the store.
func validate(r Request, now time.Time) error {
	switch {
	case !uuidForm.MatchString(r.ID):
		return invalid("invalid_inspection", "编号须为 UUID", "id must be a UUID made by the phone")
	case (r.PremiseID == nil) == (r.NewPremise == nil):
		return invalid("invalid_inspection", "须填写 premiseId 或 newPremise 之一", "give exactly one of premiseId and newPremise")
	case r.PremiseID != nil && *r.PremiseID <= 0:
		return invalid("invalid_inspection", "premiseId 无效", "premiseId must be positive")
	case r.VisitedAt.IsZero():
		return invalid("invalid_inspection", "缺少排查时间", "visitedAt is required")
	case r.VisitedAt.After(now.Add(MaxClockSkew)):
		return errFuture
	case !slices.Contains(outcomes, r.Outcome):
		return invalid("invalid_inspection", "排查结果无效", "outcome must be one of %s", strings.Join(outcomes, ", "))
	case len(r.Findings) > 0 && r.Outcome != Suspected:
		return errFindingsNotSuspected
	case len([]rune(r.Note)) > 2000:
		return invalid("invalid_inspection", "备注过长", "note is longer than 2000 characters")
	case len(r.Participants) > maxParticipants:
		return invalid("invalid_inspection", "参与人员过多", "at most %d participants", maxParticipants)
	case len(r.MediaIDs) > maxPhotos:
		return invalid("invalid_inspection", "照片过多", "at most %d photos", maxPhotos)
	case r.RecheckOf != nil && !uuidForm.MatchString(*r.RecheckOf):
		return invalid("invalid_inspection", "recheckOf 须为 UUID", "recheckOf must be an inspection id")
	case r.RecheckOf != nil && r.NewPremise != nil:
		return invalid("invalid_inspection", "抽查须针对原场所", "a re-check visits the premise of the inspection it checks")
	}
	for _, f := range r.Findings {
		if !slices.Contains(findingCodes, f) {
			return invalid("invalid_inspection", "排查情形无效", "unknown finding %q (want %s)", f, strings.Join(findingCodes, ", "))
		}
	}
	for _, p := range r.Participants {
		if n := len([]rune(p)); n == 0 || n > 50 {
			return invalid("invalid_inspection", "参与人员姓名须为1至50个字符", "a participant's name must be 1-50 characters")
		}
	}
	seen := map[int64]bool{}
	for _, id := range r.MediaIDs {
		if id <= 0 || seen[id] {
			return invalid("invalid_inspection", "照片编号无效或重复", "mediaIds must be distinct positive ids")
		}
		seen[id] = true
	}
	if r.Position != nil {
		if err := checkPosition(*r.Position); err != nil {
			return err
		}
	}
	if n := r.NewPremise; n != nil {
		if strings.TrimSpace(n.Name) == "" {
			return invalid("invalid_inspection", "新场所须有名称", "newPremise.name is required")
		}
		if err := checkPosition(n.Position); err != nil {
			return err
		}
	}
	return nil
}

func checkPosition(p Position) error {
	switch {
	case math.IsNaN(p.Lon) || math.IsNaN(p.Lat) || p.Lon < -180 || p.Lon > 180 || p.Lat < -90 || p.Lat > 90:
		return invalid("invalid_position", "经纬度无效", "lon must lie in [-180, 180] and lat in [-90, 90]")
	case p.AccuracyM != nil && (*p.AccuracyM < 0 || math.IsNaN(*p.AccuracyM) || *p.AccuracyM > 1e6):
		return invalid("invalid_position", "定位精度无效", "accuracyM must be a non-negative number of metres")
	case p.CRS != "wgs84" && p.CRS != "gcj02":
		return invalid("unsupported_crs", "坐标系须为 wgs84 或 gcj02", "crs must be wgs84 or gcj02, not %q", p.CRS)
	}
	return nil
}

// toWGS84 returns the position's point in WGS-84.
func toWGS84(p Position) (lon, lat float64) {
	if p.CRS == "gcj02" {
		return gis.GCJ02ToWGS84(p.Lon, p.Lat)
	}
	return p.Lon, p.Lat
}
