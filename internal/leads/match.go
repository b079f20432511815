package leads

import (
	"context"
	"fmt"

	"github.com/sieve-city/sieve/internal/db"
)

// premiseKey is what a record is matched to a premise by: its credit code, then its name and
// address, then its name alone when exactly one premise has it.
type premiseKey struct{ Code, Name, Address string }

// premiseMatch is the premise a record matched and how (credit_code, name_address, name).
type premiseMatch struct {
	ID       int64
	How      string
	Lon, Lat float64
}

// matchPremises matches keys to premises the caller can see, in one statement (one hash join
// of the register per rule); the result holds the matched keys by index.
func matchPremises(ctx context.Context, q db.Querier, keys []premiseKey) (map[int]premiseMatch, error) {
	out := map[int]premiseMatch{}
	if len(keys) == 0 {
		return out, nil
	}
	codes, names, addrs := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		codes[i], names[i], addrs[i] = k.Code, k.Name, k.Address
	}
	const sql = `WITH k AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(code, name, addr, i)),
		by_code AS (SELECT DISTINCT ON (k.i) k.i, p.id FROM k JOIN premises p ON p.credit_code = k.code
			WHERE k.code <> '' ORDER BY k.i, p.id),
		by_na AS (SELECT DISTINCT ON (k.i) k.i, p.id FROM k JOIN premises p ON p.name = k.name AND p.address = k.addr
			WHERE k.addr <> '' ORDER BY k.i, p.id),
		by_n AS (SELECT k.i, min(p.id) AS id FROM k JOIN premises p ON p.name = k.name WHERE k.name <> ''
			GROUP BY k.i HAVING count(*) = 1),
		m AS (SELECT k.i, coalesce(c.id, na.id, n.id) AS id,
				CASE WHEN c.id IS NOT NULL THEN 'credit_code' WHEN na.id IS NOT NULL THEN 'name_address' ELSE 'name' END AS how
			FROM k LEFT JOIN by_code c USING (i) LEFT JOIN by_na na USING (i) LEFT JOIN by_n n USING (i))
		SELECT m.i, m.id, m.how, ST_X(p.geom), ST_Y(p.geom) FROM m JOIN premises p ON p.id = m.id`
	rows, err := q.Query(ctx, sql, codes, names, addrs)
	if err != nil {
		return nil, fmt.Errorf("leads: match premises: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var m premiseMatch
		if err := rows.Scan(&i, &m.ID, &m.How, &m.Lon, &m.Lat); err != nil {
			return nil, fmt.Errorf("leads: match premises: %w", err)
		}
		out[i-1] = m
	}
	return out, rows.Err()
}

// matchReason is the zh-CN phrase of how a premise was matched.
func matchReason(how string) string {
	switch how {
	case "credit_code":
		return "按统一社会信用代码匹配到场所"
	case "name_address":
		return "按名称和地址匹配到场所"
	default:
		return "按名称匹配到场所"
	}
}
