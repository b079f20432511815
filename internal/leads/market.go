package leads

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// MarketEntities is the source of market-entity lists (市场主体名录, from 行政审批/市场监管):
// a CSV with 企业名称, 统一社会信用代码, 地址, 经营范围 and optionally 经度/纬度 (and 坐标系).
// An entity whose business scope holds a chemical keyword is a lead (化工类), one with a
// suspect keyword a weaker one (疑似化工类); it is matched to a premise by credit code, then by
// name and address, then by a name only one premise has. A row with a broken credit code
// (check digit of GB 32100-2015) is refused; a flagged entity with neither a position nor a
// premise cannot be placed and is refused too (no_place).
type MarketEntities struct{ Config MarketConfig }

// Kind is market_entity.
func (MarketEntities) Kind() string { return KindMarketEntity }

var marketColumns = append([]Column{
	{Field: "name", Names: []string{"企业名称", "name", "名称", "主体名称", "单位名称"}, Required: true},
	{Field: "code", Names: []string{"统一社会信用代码", "credit_code", "uscc", "信用代码"}, Required: true},
	{Field: "address", Names: []string{"地址", "address", "住所", "经营场所", "注册地址"}, Required: true},
	{Field: "scope", Names: []string{"经营范围", "scope", "business_scope"}, Required: true},
}, PositionColumns...)

// Import reads the list; see MarketEntities.
func (m MarketEntities) Import(ctx context.Context, tx pgx.Tx, in Input) ([]Candidate, []LineError, error) {
	t, err := OpenTable(in.Body, marketColumns)
	if err != nil {
		return nil, nil, err
	}
	ext, err := CityExtent(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	type entity struct {
		line                       int
		name, code, address, scope string
		pos                        *[2]float64
		score                      float64
		reasons, hits              []string
		class                      string
	}
	var ents []entity
	var bad []LineError
	seen := map[string]int{}
	for {
		ok, le := t.Next()
		if !ok {
			break
		}
		if le != nil {
			bad = append(bad, *le)
			continue
		}
		e := entity{line: t.Line(), name: t.Get("name"), code: strings.ToUpper(t.Get("code")), address: t.Get("address"), scope: t.Get("scope")}
		refuse := func(code, msg string) { bad = append(bad, LineError{Line: e.line, Code: code, Message: msg}) }
		switch {
		case e.name == "":
			refuse("missing_name", "企业名称为空")
			continue
		case len([]rune(e.name)) > 200 || len([]rune(e.address)) > 300:
			refuse("field_too_long", "企业名称（≤200 字）或地址（≤300 字）过长")
			continue
		case e.code == "":
			refuse("missing_credit_code", "统一社会信用代码为空")
			continue
		case !CheckCreditCode(e.code):
			refuse("invalid_credit_code", fmt.Sprintf("统一社会信用代码 %s 无效（长度、字符或校验位不符合 GB 32100-2015）", e.code))
			continue
		}
		if first, dup := seen[e.code]; dup {
			refuse("duplicate_credit_code", fmt.Sprintf("统一社会信用代码 %s 与第 %d 行重复", e.code, first))
			continue
		}
		pos, le := t.Position(ext)
		if le != nil {
			bad = append(bad, *le)
			continue
		}
		seen[e.code] = e.line
		e.pos = pos
		for _, k := range m.Config.ChemicalKeywords {
			if k != "" && strings.Contains(e.scope, k) {
				e.hits = append(e.hits, k)
			}
		}
		if len(e.hits) > 0 {
			e.class, e.score = "chemical", m.Config.ChemicalScore
			e.reasons = append(e.reasons, "经营范围含“"+strings.Join(e.hits, "”“")+"”（化工类）")
		} else {
			for _, k := range m.Config.SuspectKeywords {
				if k != "" && strings.Contains(e.scope, k) {
					e.hits = append(e.hits, k)
				}
			}
			if len(e.hits) > 0 {
				e.class, e.score = "suspected_chemical", m.Config.SuspectScore
				e.reasons = append(e.reasons, "经营范围含“"+strings.Join(e.hits, "”“")+"”（疑似化工类）")
			}
		}
		ents = append(ents, e)
	}
	// Only the flagged entities are matched and placed.
	var keys []premiseKey
	var flagged []int
	for i, e := range ents {
		if e.score > 0 {
			keys = append(keys, premiseKey{Code: e.code, Name: e.name, Address: e.address})
			flagged = append(flagged, i)
		}
	}
	matched, err := matchPremises(ctx, tx, keys)
	if err != nil {
		return nil, nil, err
	}
	byEnt := map[int]premiseMatch{}
	for k, i := range flagged {
		if pm, ok := matched[k]; ok {
			byEnt[i] = pm
		}
	}
	out := make([]Candidate, 0, len(ents))
	for i, e := range ents {
		c := Candidate{SourceKey: "uscc:" + e.code, Name: e.name, Address: e.address, Score: e.score, Reasons: e.reasons,
			Detail: map[string]any{"line": e.line, "creditCode": e.code, "scope": e.scope}}
		if e.class != "" {
			c.Detail["class"], c.Detail["keywords"] = e.class, e.hits
		}
		if e.pos != nil {
			c.Lon, c.Lat = &e.pos[0], &e.pos[1]
		}
		if pm, ok := byEnt[i]; ok {
			id := pm.ID
			c.PremiseID = &id
			c.Detail["matchedBy"] = pm.How
			c.Reasons = append(c.Reasons, matchReason(pm.How))
		}
		if e.score > 0 && c.PremiseID == nil && e.pos == nil {
			bad = append(bad, LineError{Line: e.line, Code: "no_place",
				Message: "无经纬度，且未按信用代码、名称和地址匹配到场所，无法落入网格"})
			continue
		}
		out = append(out, c)
	}
	return out, bad, nil
}
