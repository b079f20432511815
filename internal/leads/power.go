package leads

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PowerUsers is the source of power-user data (电力用户用电量, from 供电部门): a CSV with one row
// per account and month —
//
//	户号, 户名, 地址, 经度, 纬度, 用电类别, 月份, 用电量
//	0410012345, 张三, 火龙镇某村, 113.42, 34.20, 居民, 2024-03, 210
//
// (经度/纬度/地址 may be on any one row of the account, 坐标系 as for every source; 月份 is
// YYYY-MM, YYYYMM or YYYY/MM; 用电量 in kWh). 用电类别 is residential (居民, 居民生活), industrial
// (工业, 大工业, 普通工业) or power (动力, 动力电), anything else (商业, 农业 ...) other. The rules
// (PowerConfig): industrial or power tariff at an account that is not a registered chemical firm;
// a surge month; a residential account with a factory's load. The lead's key is the account and
// its last month, so next month's file makes a new lead of an account only if it still
// qualifies (and the open lead of the place then takes it as a duplicate).
type PowerUsers struct{ Config PowerConfig }

// Kind is power_user.
func (PowerUsers) Kind() string { return KindPowerUser }

var powerColumns = append([]Column{
	{Field: "account", Names: []string{"户号", "account", "用户编号", "用电户号"}, Required: true},
	{Field: "name", Names: []string{"户名", "name", "用户名称", "名称"}, Required: true},
	{Field: "address", Names: []string{"地址", "address", "用电地址"}},
	{Field: "tariff", Names: []string{"用电类别", "tariff", "电价类别", "用电性质"}, Required: true},
	{Field: "month", Names: []string{"月份", "month", "年月"}, Required: true},
	{Field: "kwh", Names: []string{"用电量", "kwh", "电量", "用电量(kwh)", "用电量（kwh）"}, Required: true},
}, PositionColumns...)

// The tariffs.
const (
	TariffResidential = "residential"
	TariffIndustrial  = "industrial"
	TariffPower       = "power" // 动力电
	TariffOther       = "other"
)

// ParseTariff reads a 用电类别.
func ParseTariff(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "居民", "居民生活", "居民生活用电", "residential":
		return TariffResidential, true
	case "工业", "大工业", "普通工业", "工业用电", "industrial":
		return TariffIndustrial, true
	case "动力", "动力电", "动力用电", "power":
		return TariffPower, true
	case "商业", "一般工商业", "农业", "农业生产", "非居民", "其他", "other":
		return TariffOther, true
	}
	return "", false
}

var monthRE = regexp.MustCompile(`^(\d{4})[-/.年]?(\d{1,2})月?$`)

// parseMonth reads a month as year×12+month−1.
func parseMonth(s string) (int, bool) {
	m := monthRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, false
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	if mo < 1 || mo > 12 || y < 1990 || y > 2100 {
		return 0, false
	}
	return y*12 + mo - 1, true
}

func monthString(m int) string { return fmt.Sprintf("%04d-%02d", m/12, m%12+1) }

// Reading is one month of an account.
type Reading struct {
	Month int // year×12+month−1
	KWh   float64
}

// Surge finds the last month that is at least ratio × the previous month and medianRatio × the
// median of the (up to) six months before it, and above floor. Months must be consecutive to
// compare (a gap breaks the comparison). ok is false when no month qualifies.
func Surge(series []Reading, ratio, medianRatio, floor float64) (month int, prev, median, kwh float64, ok bool) {
	for i := len(series) - 1; i >= 1; i-- {
		cur, p := series[i], series[i-1]
		if p.Month != cur.Month-1 || cur.KWh <= floor || cur.KWh < ratio*p.KWh {
			continue
		}
		var before []float64
		for j := i - 1; j >= 0 && j >= i-6 && series[j].Month >= cur.Month-6; j-- {
			before = append(before, series[j].KWh)
		}
		med := medianOf(before)
		if cur.KWh >= medianRatio*med {
			return cur.Month, p.KWh, med, cur.KWh, true
		}
	}
	return 0, 0, 0, 0, false
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Import reads the file; see PowerUsers.
func (p PowerUsers) Import(ctx context.Context, tx pgx.Tx, in Input) ([]Candidate, []LineError, error) {
	t, err := OpenTable(in.Body, powerColumns)
	if err != nil {
		return nil, nil, err
	}
	ext, err := CityExtent(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	type account struct {
		line              int // first line
		id, name, address string
		tariff            string
		lastMonth         int
		pos               *[2]float64
		series            []Reading
		months            map[int]int // month → line
	}
	accts := map[string]*account{}
	var order []string
	var bad []LineError
	for {
		ok, le := t.Next()
		if !ok {
			break
		}
		if le != nil {
			bad = append(bad, *le)
			continue
		}
		line := t.Line()
		refuse := func(code, msg string) { bad = append(bad, LineError{Line: line, Code: code, Message: msg}) }
		id, name := t.Get("account"), t.Get("name")
		if id == "" || len(id) > 60 {
			refuse("missing_account", "户号为空或过长（≤60 字符）")
			continue
		}
		if name == "" || len([]rune(name)) > 200 || len([]rune(t.Get("address"))) > 300 {
			refuse("missing_name", "户名为空，或户名（≤200 字）、地址（≤300 字）过长")
			continue
		}
		tariff, ok := ParseTariff(t.Get("tariff"))
		if !ok {
			refuse("invalid_tariff", fmt.Sprintf("用电类别 %q 无法识别（居民、工业、动力电、商业、农业……）", t.Get("tariff")))
			continue
		}
		month, ok := parseMonth(t.Get("month"))
		if !ok {
			refuse("invalid_month", fmt.Sprintf("月份 %q 无效（应为 YYYY-MM）", t.Get("month")))
			continue
		}
		kwh, err := strconv.ParseFloat(strings.ReplaceAll(t.Get("kwh"), ",", ""), 64)
		if err != nil || kwh < 0 || math.IsNaN(kwh) || math.IsInf(kwh, 0) {
			refuse("invalid_kwh", fmt.Sprintf("用电量 %q 无效（应为非负数，单位千瓦时）", t.Get("kwh")))
			continue
		}
		pos, le := t.Position(ext)
		if le != nil {
			bad = append(bad, *le)
			continue
		}
		a := accts[id]
		if a == nil {
			a = &account{line: line, id: id, months: map[int]int{}, lastMonth: -1}
			accts[id] = a
			order = append(order, id)
		}
		if first, dup := a.months[month]; dup {
			refuse("duplicate_month", fmt.Sprintf("户号 %s 的 %s 用电量与第 %d 行重复", id, monthString(month), first))
			continue
		}
		a.months[month] = line
		a.series = append(a.series, Reading{Month: month, KWh: kwh})
		if month > a.lastMonth { // the latest month's particulars hold
			a.lastMonth, a.name, a.tariff = month, name, tariff
			if addr := t.Get("address"); addr != "" {
				a.address = addr
			}
		}
		if a.address == "" {
			a.address = t.Get("address")
		}
		if pos != nil {
			a.pos = pos
		}
	}
	// Registered chemical firms among the industrial accounts, by name.
	var industrialNames []string
	for _, id := range order {
		if a := accts[id]; a.tariff == TariffIndustrial || a.tariff == TariffPower {
			industrialNames = append(industrialNames, a.name)
		}
	}
	registered := map[string]bool{}
	if len(industrialNames) > 0 && len(p.Config.RegisteredTags) > 0 {
		rows, err := tx.Query(ctx, `SELECT DISTINCT name FROM premises WHERE name = ANY ($1) AND tags && $2::text[]`,
			industrialNames, p.Config.RegisteredTags)
		if err != nil {
			return nil, nil, fmt.Errorf("leads: registered chemical firms: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, nil, fmt.Errorf("leads: registered chemical firms: %w", err)
		}
		for _, n := range names {
			registered[n] = true
		}
	}
	type found struct {
		a       *account
		score   float64
		reasons []string
		rules   []string
		detail  map[string]any
	}
	var hits []found
	var keys []premiseKey
	for _, id := range order {
		a := accts[id]
		sort.Slice(a.series, func(i, j int) bool { return a.series[i].Month < a.series[j].Month })
		f := found{a: a, detail: map[string]any{"line": a.line, "account": a.id, "tariff": a.tariff,
			"lastMonth": monthString(a.lastMonth)}}
		miss := 1.0 // the score is 1 − Π(1 − rule score)
		if (a.tariff == TariffIndustrial || a.tariff == TariffPower) && !registered[a.name] {
			miss *= 1 - p.Config.IndustrialScore
			f.rules = append(f.rules, "industrial_power")
			word := "工业用电"
			if a.tariff == TariffPower {
				word = "动力电"
			}
			f.reasons = append(f.reasons, "非登记化工企业使用"+word)
		}
		if m, prev, med, kwh, ok := Surge(a.series, p.Config.SurgeRatio, p.Config.MedianRatio, p.Config.FloorKWh); ok {
			miss *= 1 - p.Config.SurgeScore
			f.rules = append(f.rules, "surge")
			ratio := kwh / math.Max(prev, 1)
			f.reasons = append(f.reasons, fmt.Sprintf("%s 用电量 %.0f 千瓦时，为前月 %.1f 倍、前六月中位数 %.1f 倍",
				monthString(m), kwh, ratio, kwh/math.Max(med, 1)))
			f.detail["surge"] = map[string]any{"month": monthString(m), "kwh": kwh, "previous": prev, "median": med}
		}
		if a.tariff == TariffResidential {
			var last []float64
			for j := len(a.series) - 1; j >= 0 && a.series[j].Month > a.lastMonth-6; j-- {
				last = append(last, a.series[j].KWh)
			}
			if med := medianOf(last); len(last) > 0 && med >= p.Config.ResidentialKWh {
				miss *= 1 - p.Config.ResidentialScore
				f.rules = append(f.rules, "residential_load")
				f.reasons = append(f.reasons, fmt.Sprintf("居民用电月中位数 %.0f 千瓦时，呈工厂用电特征", med))
			}
		}
		f.score = 1 - miss
		if len(f.rules) > 0 {
			f.detail["rules"] = f.rules
		}
		series := make([]map[string]any, len(a.series))
		for i, r := range a.series {
			series[i] = map[string]any{"month": monthString(r.Month), "kwh": r.KWh}
		}
		f.detail["series"] = series
		hits = append(hits, f)
		if f.score > 0 {
			keys = append(keys, premiseKey{Name: a.name, Address: a.address})
		}
	}
	// Flagged accounts are matched to premises by name and address (or a unique name).
	matched, err := matchPremises(ctx, tx, keys)
	if err != nil {
		return nil, nil, err
	}
	out := make([]Candidate, 0, len(hits))
	k := 0
	for _, f := range hits {
		a := f.a
		c := Candidate{SourceKey: "account:" + a.id + "@" + monthString(a.lastMonth), Name: a.name, Address: a.address,
			Score: f.score, Reasons: f.reasons, Detail: f.detail}
		if a.pos != nil {
			c.Lon, c.Lat = &a.pos[0], &a.pos[1]
		}
		if f.score > 0 {
			if pm, ok := matched[k]; ok {
				id := pm.ID
				c.PremiseID = &id
				c.Detail["matchedBy"] = pm.How
				c.Reasons = append(c.Reasons, matchReason(pm.How))
			}
			k++
			if c.PremiseID == nil && a.pos == nil {
				bad = append(bad, LineError{Line: a.line, Code: "no_place",
					Message: fmt.Sprintf("户号 %s 无经纬度，且未按户名和地址匹配到场所，无法落入网格", a.id)})
				continue
			}
		}
		out = append(out, c)
	}
	return out, bad, nil
}
