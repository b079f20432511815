package sites

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// Exited is a firm of the register of enterprises that left hazardous-chemical production
// (附件1 已退出危险化学品生产的企业名单), seeded with the seed's four by migration 0022. Its
// premise is the one linked, or else the premise tagged exited_hazchem of the same name (the
// demo city places the four so).
type Exited struct {
	ID           int64     `json:"id"`
	Seq          int       `json:"seq"`     // 序号
	Name         string    `json:"name"`    // 企业名称
	Address      string    `json:"address"` // 地址
	CreditCode   string    `json:"creditCode"`
	TownshipCode string    `json:"townshipCode"`
	PremiseID    *int64    `json:"premiseId"`
	Note         string    `json:"note"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// ExitedImport is the report of a register import.
type ExitedImport struct {
	Added   int `json:"added"`
	Updated int `json:"updated"`
}

// ListExited returns the register, by 序号.
func (Store) ListExited(ctx context.Context, q db.Querier) ([]Exited, error) {
	const sql = `SELECT e.id, e.seq, e.name, e.address, e.credit_code, e.township_code,
			coalesce(e.premise_id, (SELECT p.id FROM premises p WHERE p.name = e.name AND 'exited_hazchem' = ANY (p.tags)
				ORDER BY p.id LIMIT 1)),
			e.note, e.created_at, e.updated_at
		FROM exited_enterprises e ORDER BY e.seq, e.id`
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, fmt.Errorf("sites: exited register: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Exited, error) {
		var e Exited
		err := r.Scan(&e.ID, &e.Seq, &e.Name, &e.Address, &e.CreditCode, &e.TownshipCode, &e.PremiseID, &e.Note,
			&e.CreatedAt, &e.UpdatedAt)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("sites: scan exited register: %w", err)
	}
	return out, nil
}

var (
	errExitedCSV = func(line int, msg string) error {
		return apperr.Invalidf("invalid_exited_csv", "已退出企业名单CSV有误", "line %d: %s", line, msg)
	}
	errExitedScope = apperr.Invalidf("outside_scope", "名单中的企业不在您负责的乡镇内（须填写本乡镇代码）",
		"a firm of the file lies outside your area (give your township's code)")
	creditRE = regexp.MustCompile(`^[0-9A-Z]{18}$`)
)

// exitedHeaders maps the accepted column names to the register's fields.
var exitedHeaders = map[string]string{
	"序号": "seq", "seq": "seq", "企业名称": "name", "name": "name", "地址": "address", "address": "address",
	"统一社会信用代码": "credit_code", "credit_code": "credit_code", "乡镇代码": "township_code",
	"township_code": "township_code", "备注": "note", "note": "note",
}

// ImportExited adds or updates (by name) the firms of a CSV of the register, 附件1's columns (序号,
// 企业名称, 地址) and optionally 统一社会信用代码, 乡镇代码, 备注; all or nothing. A coordinator
// may import only firms of their own township (乡镇代码).
func (Store) ImportExited(ctx context.Context, q db.Querier, data []byte) (ExitedImport, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		return ExitedImport{}, errExitedCSV(1, "no header row")
	}
	col := map[string]int{}
	for i, h := range head {
		if f, ok := exitedHeaders[strings.ToLower(strings.TrimSpace(h))]; ok {
			col[f] = i
		}
	}
	if _, ok := col["name"]; !ok {
		return ExitedImport{}, errExitedCSV(1, "no 企业名称 (name) column")
	}
	var rep ExitedImport
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ExitedImport{}, errExitedCSV(line, err.Error())
		}
		get := func(f string) string {
			if i, ok := col[f]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		name, address, code := get("name"), get("address"), strings.ToUpper(get("credit_code"))
		if name == "" && address == "" {
			continue
		}
		seq := line - 1
		if s := get("seq"); s != "" {
			if seq, err = strconv.Atoi(s); err != nil || seq < 1 {
				return ExitedImport{}, errExitedCSV(line, "序号 must be a positive number")
			}
		}
		switch {
		case name == "" || utf8.RuneCountInString(name) > 200:
			return ExitedImport{}, errExitedCSV(line, "企业名称 must be 1-200 characters")
		case utf8.RuneCountInString(address) > 300 || utf8.RuneCountInString(get("note")) > 500:
			return ExitedImport{}, errExitedCSV(line, "地址 at most 300, 备注 at most 500 characters")
		case code != "" && !creditRE.MatchString(code):
			return ExitedImport{}, errExitedCSV(line, "统一社会信用代码 must be 18 digits or capital letters")
		}
		township := get("township_code")
		var ok bool
		if err := q.QueryRow(ctx, `SELECT sieve_in_scope((SELECT path FROM regions WHERE code = $1 AND level = 'township'))`,
			township).Scan(&ok); err != nil {
			return ExitedImport{}, fmt.Errorf("sites: exited import: %w", err)
		}
		if !ok {
			return ExitedImport{}, errExitedScope
		}
		const sql = `INSERT INTO exited_enterprises AS e (seq, name, address, credit_code, township_code, note)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, address = EXCLUDED.address,
				credit_code = EXCLUDED.credit_code, township_code = EXCLUDED.township_code, note = EXCLUDED.note,
				updated_at = now()
			RETURNING (xmax = 0)`
		var added bool
		if err := q.QueryRow(ctx, sql, seq, name, address, code, township, get("note")).Scan(&added); err != nil {
			return ExitedImport{}, fmt.Errorf("sites: exited import line %d: %w", line, db.MapError(err))
		}
		if added {
			rep.Added++
		} else {
			rep.Updated++
		}
	}
	return rep, nil
}
