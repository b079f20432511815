package accounts

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/db"
)

// ScopeRegion is one region a caller acts in (the top of their area), as GET /me shows it.
type ScopeRegion struct {
	ID    int64  `json:"id"`
	Code  string `json:"code"`
	Name  string `json:"name"`
	Level string `json:"level"`
}

// ScopeRegions returns the regions p acts in, by path: the city for the city office, the
// caller's region, or a grid worker's cells. q is the caller's scoped transaction.
func (s *Store) ScopeRegions(ctx context.Context, q db.Querier, p Principal) ([]ScopeRegion, error) {
	const sql = `SELECT id, code, name, level FROM regions
		WHERE ($1 AND parent_id IS NULL) OR path::text = ANY($2) ORDER BY path`
	rows, err := q.Query(ctx, sql, p.Role == CityAdmin, p.Scope)
	if err != nil {
		return nil, fmt.Errorf("accounts: scope regions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ScopeRegion, error) {
		var sr ScopeRegion
		err := r.Scan(&sr.ID, &sr.Code, &sr.Name, &sr.Level)
		return sr, err
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: scope regions: %w", err)
	}
	if out == nil {
		out = []ScopeRegion{}
	}
	return out, nil
}
