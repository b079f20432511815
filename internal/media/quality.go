package media

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sieve-city/sieve/gis"
	"github.com/sieve-city/sieve/imagery"
)

// Flag is one thing wrong with a survey image (航拍影像质量问题), kept with the image and
// shown to the pilot so they know what to re-fly; flagged images are stored and listed like the
// others.
type Flag struct {
	// Code is stable: no_gps, bad_gps, outside_region, above_horizon, no_attitude, dark,
	// overexposed, blurred, duplicate, time_off.
	Code string `json:"code"`
	// Reason says what is wrong, in Chinese (zh-CN) and English.
	Reason   string `json:"reason"`
	ReasonEn string `json:"reasonEn"`
	// Value is what was measured, where there is a measure: metres outside the region, the
	// Laplacian variance, the mean luma, days from the flight date.
	Value *float64 `json:"value,omitempty"`
}

// FlagCount is how many images of a survey carry one flag, with the first names.
type FlagCount struct {
	Code     string   `json:"code"`
	Reason   string   `json:"reason"`
	ReasonEn string   `json:"reasonEn"`
	Count    int      `json:"count"`
	Names    []string `json:"names"` // original names, the first 50
}

// flagReasons are the reasons of each flag code, zh-CN and English, without the measure.
var flagReasons = map[string][2]string{
	"no_gps":         {"无 GPS 位置", "no GPS position"},
	"bad_gps":        {"GPS 坐标不可能（超出范围、0,0、无效定位或不在中国境内）", "impossible GPS position (out of range, 0,0, void fix or outside China)"},
	"outside_region": {"位置在航测区域之外", "position outside the survey's region"},
	"above_horizon":  {"相机朝向地平线或以上，看不到地面", "camera at or above the horizon: no ground in view"},
	"no_attitude":    {"缺少云台姿态（俯仰/航向）信息，无法计算地面覆盖范围", "no gimbal attitude (pitch/yaw): no ground footprint"},
	"dark":           {"画面几乎全黑（镜头盖未取下或光线不足）", "nearly black (lens cap or no light)"},
	"overexposed":    {"画面过曝（对着太阳或天空）", "blown out (sun or sky)"},
	"blurred":        {"画面模糊", "blurred"},
	"duplicate":      {"与本航测中另一文件内容完全相同（只存一份）", "same bytes as another file of the survey (stored once)"},
	"time_off":       {"拍摄时间与飞行日期相差过大", "capture time far from the flight date"},
}

// newFlag builds a flag with its reasons; detail is added to both when not empty.
func newFlag(code string, value *float64, detailZH, detailEn string) Flag {
	r := flagReasons[code]
	f := Flag{Code: code, Reason: r[0], ReasonEn: r[1], Value: value}
	if detailZH != "" {
		f.Reason += "：" + detailZH
	}
	if detailEn != "" {
		f.ReasonEn += ": " + detailEn
	}
	return f
}

// QualityConfig holds the thresholds of the survey image checks.
type QualityConfig struct {
	// RegionMarginMetres: a position farther than this outside the survey's region is flagged
	// (drones turn outside the area they map).
	RegionMarginMetres float64
	// FlightDateDays: a capture date (campaign zone) more than this many days from the
	// survey's flight date is flagged.
	FlightDateDays float64
	// BlurMinLaplacian: a list thumbnail whose Laplacian variance is below this is blurred.
	BlurMinLaplacian float64
	// DarkMeanLuma and BrightMeanLuma bound the mean luma (0-255) of a usable image; a list
	// thumbnail 90 % black or 80 % blown out is flagged too.
	DarkMeanLuma, BrightMeanLuma float64
}

// DefaultQualityConfig returns the thresholds Sieve runs with.
func DefaultQualityConfig() QualityConfig {
	return QualityConfig{RegionMarginMetres: 200, FlightDateDays: 1, BlurMinLaplacian: 20, DarkMeanLuma: 25, BrightMeanLuma: 235}
}

// surveyPlace is what the metadata checks need of an image's survey.
type surveyPlace struct {
	flightDate string   // YYYY-MM-DD
	outsideM   *float64 // metres from the survey's region (0 inside), nil without a point or region geometry
}

// metadataFlags are the flags the metadata job finds on a drone image: its position, its
// attitude and its capture time against its survey.
func metadataFlags(cfg QualityConfig, md imagery.Metadata, noFootprint string, sp surveyPlace, zone *time.Location) []Flag {
	flags := []Flag{}
	badGPS := false
	for _, w := range md.Warnings {
		if strings.Contains(w, imagery.ErrBadGPS.Error()) {
			badGPS = true
		}
	}
	switch {
	case md.GPS != nil && gis.OutOfChina(md.GPS.Lon, md.GPS.Lat):
		flags = append(flags, newFlag("bad_gps", nil, fmt.Sprintf("%.6f, %.6f", md.GPS.Lon, md.GPS.Lat), fmt.Sprintf("%.6f, %.6f", md.GPS.Lon, md.GPS.Lat)))
	case md.GPS == nil && badGPS:
		flags = append(flags, newFlag("bad_gps", nil, "", ""))
	case md.GPS == nil:
		flags = append(flags, newFlag("no_gps", nil, "", ""))
	case sp.outsideM != nil && *sp.outsideM > cfg.RegionMarginMetres:
		m := math.Round(*sp.outsideM)
		flags = append(flags, newFlag("outside_region", &m, fmt.Sprintf("超出 %.0f 米", m), fmt.Sprintf("%.0f m outside", m)))
	}
	switch {
	case md.Drone == nil || md.Drone.GimbalPitch == nil || md.Drone.GimbalYaw == nil:
		flags = append(flags, newFlag("no_attitude", nil, "", ""))
	case noFootprint == imagery.NoFootprintHorizon:
		p := *md.Drone.GimbalPitch
		flags = append(flags, newFlag("above_horizon", &p, fmt.Sprintf("俯仰角 %.1f°", p), fmt.Sprintf("pitch %.1f°", p)))
	}
	if md.TakenAt != nil && sp.flightDate != "" {
		if fd, err := time.ParseInLocation(time.DateOnly, sp.flightDate, zone); err == nil {
			t := md.TakenAt.In(zone)
			day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, zone)
			days := math.Round(math.Abs(day.Sub(fd).Hours()) / 24)
			if days > cfg.FlightDateDays {
				flags = append(flags, newFlag("time_off", &days, fmt.Sprintf("拍摄于 %s，飞行日期 %s，相差 %.0f 天", t.Format(time.DateOnly), sp.flightDate, days),
					fmt.Sprintf("taken %s, flight date %s, %.0f days apart", t.Format(time.DateOnly), sp.flightDate, days)))
			}
		}
	}
	return flags
}

// pixelFlags are the flags the thumbnail job finds in the list thumbnail's pixels.
func pixelFlags(cfg QualityConfig, st imagery.PixelStats) []Flag {
	flags := []Flag{}
	mean := math.Round(st.MeanLuma*10) / 10
	switch {
	case st.MeanLuma < cfg.DarkMeanLuma || st.DarkShare > 0.9:
		return append(flags, newFlag("dark", &mean, fmt.Sprintf("平均亮度 %.0f/255", mean), fmt.Sprintf("mean luma %.0f/255", mean)))
	case st.MeanLuma > cfg.BrightMeanLuma || st.BrightShare > 0.8:
		return append(flags, newFlag("overexposed", &mean, fmt.Sprintf("平均亮度 %.0f/255", mean), fmt.Sprintf("mean luma %.0f/255", mean)))
	}
	if st.LaplacianVar < cfg.BlurMinLaplacian {
		v := math.Round(st.LaplacianVar*10) / 10
		flags = append(flags, newFlag("blurred", &v, fmt.Sprintf("清晰度 %.1f，低于 %.0f", v, cfg.BlurMinLaplacian),
			fmt.Sprintf("Laplacian variance %.1f, below %.0f", v, cfg.BlurMinLaplacian)))
	}
	return flags
}

// duplicateFlag is the flag of a stored image whose bytes also came under other names.
func duplicateFlag(names []string) Flag {
	list := strings.Join(names, ", ")
	return newFlag("duplicate", nil, "另见 "+list, "also "+list)
}
