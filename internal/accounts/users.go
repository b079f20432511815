package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/db"
)

// User is a person who logs in to Sieve.
type User struct {
	ID          int64   `json:"id"`
	Username    string  `json:"username"`
	DisplayName string  `json:"displayName"`
	Phone       string  `json:"phone"`
	Role        Role    `json:"role"`
	RegionID    *int64  `json:"regionId"`
	RegionPath  string  `json:"-"`
	CellIDs     []int64 `json:"cellIds"`
	// Department is the department an inspector acts for (联合执法部门), "" for none: public_security,
	// market_regulation, emergency_management, ecology_environment, transport, township.
	Department string     `json:"department"`
	Disabled   bool       `json:"disabled"`
	CreatedAt  time.Time  `json:"createdAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
	DisabledAt *time.Time `json:"disabledAt,omitempty"`
}

var (
	errWeakPassword = apperr.Invalidf("weak_password", "密码长度须为8到128个字符",
		"password must be %d to %d characters", MinPasswordLen, MaxPasswordLen)
	errBadUsername = apperr.Invalidf("invalid_username", "用户名须为2到40位小写字母、数字、点、下划线或连字符",
		"username must be 2-40 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	errScopeRequired  = apperr.Invalidf("region_required", "该角色必须指定所属区域", "this role needs a region")
	errCellsForWorker = apperr.Invalidf("cells_only_for_grid_workers", "只有网格员可以分配网格",
		"only grid workers are assigned cells")
	errNotCell = apperr.Invalidf("not_a_cell", "只能分配网格级区域", "assignments must be grid cells inside the user's region")
	errGrant   = apperr.New(http.StatusForbidden, "cannot_grant_role", "your role cannot grant that role", "您无权授予该角色")
	errTooLong = apperr.Invalidf("field_too_long", "字段过长", "display name at most 100 and phone at most 30 characters")
	errDept    = apperr.Invalidf("invalid_department", "部门无效",
		"department must be public_security, market_regulation, emergency_management, ecology_environment, transport or township")
)

// Departments are the departments a user may act for (users.department, migration 0022).
var Departments = []string{"public_security", "market_regulation", "emergency_management", "ecology_environment",
	"transport", "township"}

func checkDepartment(d string) error {
	if d == "" || slices.Contains(Departments, d) {
		return nil
	}
	return errDept
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,39}$`)

// NewUser is what is needed to create a user.
type NewUser struct {
	Username    string  `json:"username"`
	Password    string  `json:"password"`
	DisplayName string  `json:"displayName"`
	Phone       string  `json:"phone"`
	Role        Role    `json:"role"`
	RegionID    *int64  `json:"regionId"`
	CellIDs     []int64 `json:"cellIds"`
	Department  string  `json:"department"`
}

// UserPatch is a partial change to a user; nil fields stay as they are.
type UserPatch struct {
	DisplayName *string  `json:"displayName"`
	Phone       *string  `json:"phone"`
	Role        *Role    `json:"role"`
	RegionID    *int64   `json:"regionId"`
	CellIDs     *[]int64 `json:"cellIds"`
	Disabled    *bool    `json:"disabled"`
	Password    *string  `json:"password"`
	Department  *string  `json:"department"` // "" clears it
}

// Store reads and writes users and sessions. Its methods take the transaction of the caller
// (opened with db.InScope), so row-level security decides what they see.
type Store struct {
	Hasher   *Hasher
	TokenTTL time.Duration
	Now      func() time.Time
	cache    *principalCache
}

// NewStore returns a Store. Authenticated principals are cached for cacheTTL (0 disables the
// cache): a logout, password change, role change or disabling on this instance takes effect at
// once; on other instances of a scaled-out deployment within cacheTTL.
func NewStore(h *Hasher, tokenTTL, cacheTTL time.Duration, now func() time.Time) *Store {
	s := &Store{Hasher: h, TokenTTL: tokenTTL, Now: now}
	if cacheTTL > 0 {
		s.cache = newPrincipalCache(cacheTTL, now)
	}
	return s
}

const userCols = `u.id, u.username, u.display_name, u.phone, u.role, u.region_id, coalesce(u.region_path::text, ''),
	u.disabled_at, u.created_at, u.updated_at,
	coalesce((SELECT array_agg(ca.cell_id ORDER BY ca.cell_id) FROM cell_assignments ca WHERE ca.user_id = u.id), '{}'),
	coalesce(u.department, '')`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Phone, &u.Role, &u.RegionID, &u.RegionPath,
		&u.DisabledAt, &u.CreatedAt, &u.UpdatedAt, &u.CellIDs, &u.Department)
	u.Disabled = u.DisabledAt != nil
	return u, err
}

// Get returns the user id if the caller may see them, else ErrNotFound.
func (s *Store) Get(ctx context.Context, q db.Querier, id int64) (User, error) {
	const sql = `SELECT ` + userCols + ` FROM users u WHERE u.id = $1`
	u, err := scanUser(q.QueryRow(ctx, sql, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("accounts: user %d: %w", id, apperr.ErrNotFound)
	}
	return u, err
}

// GetByUsername returns the user with that name if the caller may see them.
func (s *Store) GetByUsername(ctx context.Context, q db.Querier, name string) (User, error) {
	const sql = `SELECT ` + userCols + ` FROM users u WHERE u.username = $1`
	u, err := scanUser(q.QueryRow(ctx, sql, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("accounts: user %q: %w", name, apperr.ErrNotFound)
	}
	return u, err
}

// ListFilter narrows a user listing.
type ListFilter struct {
	Role     Role
	RegionID int64
	After    int64 // cursor: users with a larger id
	Limit    int
}

// List returns the users the caller may see, by id.
func (s *Store) List(ctx context.Context, q db.Querier, f ListFilter) ([]User, error) {
	const sql = `SELECT ` + userCols + ` FROM users u
		WHERE u.id > $1
		  AND ($2 = '' OR u.role = $2)
		  AND ($3 = 0 OR u.region_path <@ (SELECT path FROM regions WHERE id = $3))
		ORDER BY u.id LIMIT $4`
	rows, err := q.Query(ctx, sql, f.After, string(f.Role), f.RegionID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("accounts: list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("accounts: scan users: %w", err)
	}
	return out, nil
}

func validateProfile(displayName, phone string) error {
	if len([]rune(displayName)) > 100 || len([]rune(phone)) > 30 {
		return errTooLong
	}
	return nil
}

// Create adds a user. by is the role of whoever creates it (CanGrant decides); the region must
// be visible to the caller (row-level security), cells must lie inside the region.
func (s *Store) Create(ctx context.Context, q db.Querier, by Role, n NewUser) (User, error) {
	n.Username = strings.TrimSpace(n.Username)
	if !usernameRE.MatchString(n.Username) {
		return User{}, errBadUsername
	}
	if _, err := ParseRole(string(n.Role)); err != nil {
		return User{}, err
	}
	if !by.CanGrant(n.Role) {
		return User{}, errGrant
	}
	if err := CheckPasswordPolicy(n.Password); err != nil {
		return User{}, err
	}
	if err := validateProfile(n.DisplayName, n.Phone); err != nil {
		return User{}, err
	}
	if err := checkDepartment(n.Department); err != nil {
		return User{}, err
	}
	if n.Role != CityAdmin && n.RegionID == nil {
		return User{}, errScopeRequired
	}
	if n.Role == CityAdmin {
		n.RegionID = nil
	}
	if len(n.CellIDs) > 0 && n.Role != GridWorker {
		return User{}, errCellsForWorker
	}
	if n.RegionID != nil {
		if err := regionVisible(ctx, q, *n.RegionID); err != nil {
			return User{}, err
		}
	}
	hash, err := s.Hasher.Hash(ctx, n.Password)
	if err != nil {
		return User{}, err
	}
	const sql = `INSERT INTO users (username, display_name, phone, password_hash, role, region_id, department)
		VALUES ($1, $2, $3, $4, $5, $6, nullif($7, '')) RETURNING id`
	var id int64
	if err := q.QueryRow(ctx, sql, n.Username, n.DisplayName, n.Phone, hash, n.Role, n.RegionID, n.Department).Scan(&id); err != nil {
		if e, ok := apperr.As(db.MapError(err)); ok && e.Code == apperr.ErrConflict.Code {
			return User{}, apperr.New(http.StatusConflict, "username_taken", "username already taken", "用户名已存在")
		}
		return User{}, fmt.Errorf("accounts: create user: %w", db.MapError(err))
	}
	if len(n.CellIDs) > 0 {
		if err := s.setCells(ctx, q, id, n.CellIDs); err != nil {
			return User{}, err
		}
	}
	return s.Get(ctx, q, id)
}

// regionVisible checks that the caller can see region id (404 otherwise, which also hides
// other townships' regions).
func regionVisible(ctx context.Context, q db.Querier, id int64) error {
	var ok bool
	err := q.QueryRow(ctx, `SELECT sieve_in_scope(path) FROM regions WHERE id = $1`, id).Scan(&ok)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !ok) {
		return fmt.Errorf("accounts: region %d: %w", id, apperr.ErrNotFound)
	}
	return err
}

// setCells replaces a grid worker's cell assignments; every cell must be a grid cell inside the
// worker's region.
func (s *Store) setCells(ctx context.Context, q db.Querier, userID int64, cells []int64) error {
	if _, err := q.Exec(ctx, `DELETE FROM cell_assignments WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("accounts: clear cells: %w", err)
	}
	if len(cells) == 0 {
		return nil
	}
	const sql = `INSERT INTO cell_assignments (user_id, cell_id, cell_path)
		SELECT $1, r.id, r.path FROM regions r, users u
		WHERE u.id = $1 AND r.id = ANY($2) AND r.level = 'cell' AND r.path <@ u.region_path`
	tag, err := q.Exec(ctx, sql, userID, cells)
	if err != nil {
		return fmt.Errorf("accounts: assign cells: %w", db.MapError(err))
	}
	if int(tag.RowsAffected()) != len(uniq(cells)) {
		return errNotCell
	}
	return nil
}

var errLastCityAdmin = apperr.New(http.StatusConflict, "last_city_admin",
	"the last enabled city administrator cannot be demoted or disabled; make another one first",
	"这是最后一个启用的市级管理员，不能降级或停用；请先设置另一位市级管理员")

// keepOneCityAdmin refuses to demote or disable city administrator id when no other enabled
// one is left (nobody could manage the city's users through the API then). Concurrent changes
// of city administrators queue on one advisory lock, so two of the last two cannot demote each
// other at once. The system (the `sieve user` command on the server, the way to recover) is not
// held to it.
func keepOneCityAdmin(ctx context.Context, q db.Querier, id int64) error {
	var system bool
	if err := q.QueryRow(ctx, `SELECT sieve_system()`).Scan(&system); err != nil || system {
		return err
	}
	// Two statements: the count's snapshot must be taken after the lock is held.
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('city_admins', 411081))`); err != nil {
		return fmt.Errorf("accounts: lock city admins: %w", err)
	}
	const sql = `SELECT count(*) FROM users WHERE role = 'city_admin' AND disabled_at IS NULL AND id <> $1`
	var others int
	if err := q.QueryRow(ctx, sql, id).Scan(&others); err != nil {
		return fmt.Errorf("accounts: count city admins: %w", err)
	}
	if others == 0 {
		return errLastCityAdmin
	}
	return nil
}

func uniq(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Update applies a patch to user id on behalf of a caller with role by. The target must be
// visible (else 404); role changes obey CanGrant for both the old and the new role.
func (s *Store) Update(ctx context.Context, q db.Querier, by Role, id int64, p UserPatch) (User, error) {
	cur, err := s.Get(ctx, q, id)
	if err != nil {
		return User{}, err
	}
	if !by.CanGrant(cur.Role) {
		return User{}, errGrant
	}
	newRole := cur.Role
	if p.Role != nil {
		if _, err := ParseRole(string(*p.Role)); err != nil {
			return User{}, err
		}
		if !by.CanGrant(*p.Role) {
			return User{}, errGrant
		}
		newRole = *p.Role
	}
	if p.DisplayName != nil || p.Phone != nil {
		dn, ph := cur.DisplayName, cur.Phone
		if p.DisplayName != nil {
			dn = *p.DisplayName
		}
		if p.Phone != nil {
			ph = *p.Phone
		}
		if err := validateProfile(dn, ph); err != nil {
			return User{}, err
		}
	}
	if p.RegionID != nil {
		if err := regionVisible(ctx, q, *p.RegionID); err != nil {
			return User{}, err
		}
	}
	if p.Department != nil {
		if err := checkDepartment(*p.Department); err != nil {
			return User{}, err
		}
	}
	if newRole != CityAdmin && p.RegionID == nil && cur.RegionID == nil {
		return User{}, errScopeRequired
	}
	if p.CellIDs != nil && len(*p.CellIDs) > 0 && newRole != GridWorker {
		return User{}, errCellsForWorker
	}
	if cur.Role == CityAdmin && !cur.Disabled && (newRole != CityAdmin || (p.Disabled != nil && *p.Disabled)) {
		if err := keepOneCityAdmin(ctx, q, id); err != nil {
			return User{}, err
		}
	}
	var hash *string
	if p.Password != nil {
		if err := CheckPasswordPolicy(*p.Password); err != nil {
			return User{}, err
		}
		h, err := s.Hasher.Hash(ctx, *p.Password)
		if err != nil {
			return User{}, err
		}
		hash = &h
	}
	const sql = `UPDATE users SET
		display_name = coalesce($2, display_name),
		phone = coalesce($3, phone),
		role = $4,
		region_id = CASE WHEN $4 = 'city_admin' THEN NULL ELSE coalesce($5, region_id) END,
		password_hash = coalesce($6, password_hash),
		disabled_at = CASE WHEN $7::boolean IS NULL THEN disabled_at
		                   WHEN $7 THEN coalesce(disabled_at, now()) ELSE NULL END,
		department = CASE WHEN $8::text IS NULL THEN department ELSE nullif($8, '') END,
		updated_at = now()
		WHERE id = $1`
	if _, err := q.Exec(ctx, sql, id, p.DisplayName, p.Phone, newRole, p.RegionID, hash, p.Disabled, p.Department); err != nil {
		return User{}, fmt.Errorf("accounts: update user %d: %w", id, db.MapError(err))
	}
	// Any change may narrow what the user's tokens allow: every instance forgets its cached
	// principals when this commits (the caller's instance at once: Forget after the commit).
	if err := notifyChange(ctx, q); err != nil {
		return User{}, err
	}
	// A new password, a disabled account or a changed role or area ends the user's sessions.
	if hash != nil || (p.Disabled != nil && *p.Disabled) || newRole != cur.Role || p.RegionID != nil {
		if err := revokeAll(ctx, q, id, nil); err != nil {
			return User{}, err
		}
	}
	switch {
	case p.CellIDs != nil:
		if err := s.setCells(ctx, q, id, *p.CellIDs); err != nil {
			return User{}, err
		}
	case newRole != GridWorker || p.RegionID != nil:
		// Assignments outside the role or the new region lapse.
		const drop = `DELETE FROM cell_assignments ca USING users u
			WHERE ca.user_id = u.id AND u.id = $1 AND (u.role <> 'grid_worker' OR NOT ca.cell_path <@ u.region_path)`
		if _, err := q.Exec(ctx, drop, id); err != nil {
			return User{}, fmt.Errorf("accounts: drop lapsed cells: %w", err)
		}
	}
	return s.Get(ctx, q, id)
}
