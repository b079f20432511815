package tips

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/audit"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/tasks"
)

// Store reads and writes tips in the caller's transaction: every SQL statement of the tips
// (the listing's are in credit.go). It holds nothing.
type Store struct{}

const cols = `t.id, t.status, t.description, t.address, ST_X(t.point), ST_Y(t.point), t.cell_id,
	t.suggested_duplicate_of, t.duplicate_of, t.site_id, t.public_note, t.reason, t.fine_fen, t.reward_fen,
	t.payment_ref, t.has_contact, t.photos, t.status_at, t.created_at, t.updated_at, t.region_path::text`

func scanTip(r pgx.Row) (Tip, error) {
	var t Tip
	err := r.Scan(&t.ID, &t.Status, &t.Description, &t.Address, &t.Lon, &t.Lat, &t.CellID,
		&t.SuggestedDuplicateOf, &t.DuplicateOf, &t.SiteID, &t.PublicNote, &t.Reason, &t.fineFen, &t.rewardFen,
		&t.PaymentRef, &t.HasContact, &t.Photos, &t.StatusAt, &t.CreatedAt, &t.UpdatedAt, &t.regionPath)
	t.FineYuan, t.RewardYuan = toYuan(t.fineFen), toYuan(t.rewardFen)
	return t, err
}

// Get returns tip id if the caller may see it, or apperr.ErrNotFound.
func (Store) Get(ctx context.Context, q db.Querier, id int64) (Tip, error) {
	const sql = `SELECT ` + cols + ` FROM tips t WHERE t.id = $1`
	t, err := scanTip(q.QueryRow(ctx, sql, id))
	if err != nil {
		return Tip{}, fmt.Errorf("tips: get %d: %w", id, db.MapError(err))
	}
	return t, nil
}

// lock returns tip id locked for a change, or apperr.ErrNotFound.
func (Store) lock(ctx context.Context, q db.Querier, id int64) (Tip, error) {
	const sql = `SELECT ` + cols + ` FROM tips t WHERE t.id = $1 FOR UPDATE`
	t, err := scanTip(q.QueryRow(ctx, sql, id))
	if err != nil {
		return Tip{}, fmt.Errorf("tips: lock %d: %w", id, db.MapError(err))
	}
	return t, nil
}

// List returns the tips the caller may see that match f, by id.
func (Store) List(ctx context.Context, q db.Querier, f Filter) ([]Tip, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	const sql = `SELECT ` + cols + ` FROM tips t
		WHERE t.id > $1 AND ($2 = '' OR t.status = $2) ORDER BY t.id LIMIT $3`
	rows, err := q.Query(ctx, sql, f.After, string(f.Status), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("tips: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tip, error) { return scanTip(r) })
	if err != nil {
		return nil, fmt.Errorf("tips: scan: %w", err)
	}
	return out, nil
}

// PublicStatus looks a tip up by the hash of its tracking code: one statement on the unique
// index, the same whether the code is right or wrong (apperr.ErrNotFound).
func (Store) PublicStatus(ctx context.Context, q db.Querier, codeHash []byte) (Status, PublicStatus, error) {
	const sql = `SELECT status, public_note, created_at, status_at FROM tips WHERE code_hash = $1`
	var st Status
	var p PublicStatus
	err := q.QueryRow(ctx, sql, codeHash).Scan(&st, &p.PublicNote, &p.ReceivedAt, &p.UpdatedAt)
	if err != nil {
		return "", PublicStatus{}, fmt.Errorf("tips: status: %w", db.MapError(err))
	}
	p.Status = st.Public()
	return st, p, nil
}

// newTip is a checked submission about to be stored.
type newTip struct {
	codeHash             []byte
	description, address string
	lon, lat             *float64
	crs                  string
	contact              *Contact
	photos               []media.Screened // stored by the intake (media.StoreScreened)
}

// nearSQL is the test that tip d lies within metres of point pt at latitude lat (SQL
// expressions), the place rule of the duplicate suggestion and of the first reporter: a box a
// little larger than the distance first (tips_point's index), then the exact distance.
func nearSQL(pt, metres, lat string) string {
	return `d.point && ST_Expand(` + pt + `, ` + metres + ` / 111320.0 / cos(radians(` + lat + `)) * 1.2)
		AND ST_DWithin(d.point::geography, ` + pt + `::geography, ` + metres + `)`
}

// insertSQL stores a tip with its suggested duplicate: the earliest tip near it within the days,
// not found invalid. $4, $5 the point (NULL: none), $9 the metres, $10 the days.
var insertSQL = `WITH pt AS (SELECT CASE WHEN $4::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($4, $5), 4326) END AS g)
	INSERT INTO tips (code_hash, description, address, point, crs, has_contact, photos, suggested_duplicate_of)
	SELECT $1, $2, $3, pt.g, $6, $7, $8,
		(SELECT d.id FROM tips d
		 WHERE pt.g IS NOT NULL AND ` + nearSQL("pt.g", "$9", "$5") + `
		   AND d.status <> 'invalid' AND d.created_at > now() - make_interval(days => $10)
		 ORDER BY d.created_at, d.id LIMIT 1)
	FROM pt RETURNING id`

// earlierValidSQL is the earliest tip other than $1 near point $2, $3 within $4 metres, in a
// status of $5, posted before $6 and within $7 days of it; 0 when none.
var earlierValidSQL = `WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326) AS g)
	SELECT coalesce((SELECT d.id FROM tips d, pt
	WHERE d.id <> $1 AND ` + nearSQL("pt.g", "$4", "$3") + `
	  AND d.status = ANY ($5) AND d.created_at < $6 AND d.created_at > $6 - make_interval(days => $7)
	ORDER BY d.created_at, d.id LIMIT 1), 0)`

// insert stores a new tip, its contact and its photos (the intake, acting as the system) and
// returns its id. The tip's earliest neighbour within the duplicate distance and days (not
// found invalid) is stored as its suggested duplicate.
func (Store) insert(ctx context.Context, q db.Querier, n newTip, cfg Config) (Tip, error) {
	var id int64
	err := q.QueryRow(ctx, insertSQL, n.codeHash, n.description, n.address, n.lon, n.lat, n.crs, n.contact != nil,
		len(n.photos), cfg.DuplicateMetres, cfg.DuplicateDays).Scan(&id)
	if err != nil {
		return Tip{}, fmt.Errorf("tips: insert: %w", db.MapError(err))
	}
	if n.contact != nil {
		if _, err := q.Exec(ctx, `INSERT INTO tip_contacts (tip_id, name, phone) VALUES ($1, $2, $3)`,
			id, n.contact.Name, n.contact.Phone); err != nil {
			return Tip{}, fmt.Errorf("tips: contact: %w", db.MapError(err))
		}
	}
	return Store{}.Get(ctx, q, id)
}

// addPhoto records photo p of tip id, with its medium (nil: none).
func (Store) addPhoto(ctx context.Context, q db.Querier, id int64, p media.Screened, mediaID *int64) error {
	const ph = `INSERT INTO tip_photos (tip_id, object_key, sha256, size, format, width, height, exif_point, taken_at, media_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7,
			CASE WHEN $8::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($8, $9), 4326) END, $10, $11)`
	if _, err := q.Exec(ctx, ph, id, p.Key, p.SHA256, p.Size, string(p.Info.Format), p.Info.Width, p.Info.Height, p.Lon, p.Lat, p.TakenAt,
		mediaID); err != nil {
		return fmt.Errorf("tips: photo: %w", db.MapError(err))
	}
	return nil
}

// change is what a move writes on the tip.
type change struct {
	to                 Status
	reason, publicNote *string
	duplicateOf        *int64
	lon, lat           *float64
	fineFen, rewardFen *int64
	paymentRef         *string
}

// update writes a move on tip id.
func (Store) update(ctx context.Context, q db.Querier, id int64, c change) error {
	const sql = `UPDATE tips SET status = $2, status_at = now(), updated_at = now(),
		reason = coalesce($3, reason), public_note = coalesce($4, public_note),
		duplicate_of = coalesce($5, duplicate_of),
		point = CASE WHEN $6::float8 IS NOT NULL THEN ST_SetSRID(ST_MakePoint($6, $7), 4326) ELSE point END,
		fine_fen = coalesce($8, fine_fen), reward_fen = coalesce($9, reward_fen),
		payment_ref = coalesce($10, payment_ref)
		WHERE id = $1`
	tag, err := q.Exec(ctx, sql, id, string(c.to), c.reason, c.publicNote, c.duplicateOf, c.lon, c.lat,
		c.fineFen, c.rewardFen, c.paymentRef)
	if err != nil {
		return fmt.Errorf("tips: update %d: %w", id, db.MapError(err))
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("tips: update %d: %w", id, apperr.ErrNotFound)
	}
	return nil
}

// setSite links tip id to the site opened from it.
func (Store) setSite(ctx context.Context, q db.Querier, id, siteID int64) error {
	if _, err := q.Exec(ctx, `UPDATE tips SET site_id = $2, updated_at = now() WHERE id = $1`, id, siteID); err != nil {
		return fmt.Errorf("tips: set site of %d: %w", id, db.MapError(err))
	}
	return nil
}

// addEvent records a step of tip id's workflow.
func (Store) addEvent(ctx context.Context, q db.Querier, id int64, from *Status, to Status, reason string, detail map[string]any, by int64) error {
	d, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("tips: event detail: %w", err)
	}
	const sql = `INSERT INTO tip_events (tip_id, from_status, to_status, reason, detail, by_user, actor)
		VALUES ($1, $2, $3, $4, $5, nullif($6::bigint, 0), coalesce(current_setting('sieve.actor', true), ''))`
	var f *string
	if from != nil {
		s := string(*from)
		f = &s
	}
	if _, err := q.Exec(ctx, sql, id, f, string(to), reason, d, by); err != nil {
		return fmt.Errorf("tips: event of %d: %w", id, db.MapError(err))
	}
	return nil
}

// Events lists the steps of tip id.
func (Store) Events(ctx context.Context, q db.Querier, id int64) ([]Event, error) {
	const sql = `SELECT id, from_status, to_status, reason, detail, by_user, actor, at FROM tip_events
		WHERE tip_id = $1 ORDER BY id`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("tips: events of %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.ID, &e.From, &e.To, &e.Reason, &e.Detail, &e.By, &e.Actor, &e.At)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("tips: scan events: %w", err)
	}
	return out, nil
}

// Photos lists the photos of tip id.
func (Store) Photos(ctx context.Context, q db.Querier, id int64) ([]Photo, error) {
	const sql = `SELECT p.id, p.media_id, coalesce(m.status, 'none'), coalesce(m.thumbs ? 'list', false),
			coalesce(m.thumbs ? 'detail', false), m.phash,
			p.format, p.size, p.width, p.height, ST_X(p.exif_point), ST_Y(p.exif_point), p.taken_at, p.object_key
		FROM tip_photos p LEFT JOIN media m ON m.id = p.media_id WHERE p.tip_id = $1 ORDER BY p.id`
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("tips: photos of %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Photo, error) {
		var p Photo
		var list, detail bool
		var phash *int64
		err := r.Scan(&p.ID, &p.MediaID, &p.Status, &list, &detail, &phash,
			&p.Format, &p.Size, &p.Width, &p.Height, &p.Lon, &p.Lat, &p.TakenAt, &p.key)
		if p.MediaID != nil {
			if list {
				p.Thumbnail = fmt.Sprintf("/api/v1/media/%d/thumbnail?size=list", *p.MediaID)
			}
			if detail {
				p.Detail = fmt.Sprintf("/api/v1/media/%d/thumbnail?size=detail", *p.MediaID)
			}
		}
		if phash != nil {
			p.PHash = fmt.Sprintf("%016x", uint64(*phash))
		}
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("tips: scan photos: %w", err)
	}
	return out, nil
}

// Contact returns the reporter's contact of tip id: apperr.ErrNotFound when there is none or
// the caller may not read it (row-level security, sieve_tip_contacts_reader).
func (Store) Contact(ctx context.Context, q db.Querier, id int64) (Contact, error) {
	c := Contact{TipID: id}
	err := q.QueryRow(ctx, `SELECT name, phone FROM tip_contacts WHERE tip_id = $1`, id).Scan(&c.Name, &c.Phone)
	if err != nil {
		return Contact{}, fmt.Errorf("tips: contact of %d: %w", id, db.MapError(err))
	}
	return c, nil
}

// earlierValid returns the earliest tip other than t, posted before it within the duplicate
// distance and days, that counts as a valid report of the place; 0 when none. It reads as the
// system (a tip of the same place across a township border counts too) and writes nothing.
func (Store) earlierValid(ctx context.Context, q db.Querier, t Tip, cfg Config) (int64, error) {
	if t.Lon == nil || t.Lat == nil {
		return 0, nil
	}
	var id int64
	err := db.SystemBulk(ctx, q, audit.Summary{Entity: "tips", Action: "first_reporter"}, func(*audit.Summary) error {
		var ok []string
		for _, s := range Statuses {
			if s.rewarded() {
				ok = append(ok, string(s))
			}
		}
		return q.QueryRow(ctx, earlierValidSQL, t.ID, *t.Lon, *t.Lat, cfg.DuplicateMetres, ok, t.CreatedAt, cfg.DuplicateDays).Scan(&id)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("tips: earlier valid tip of %d: %w", t.ID, err)
	}
	return id, nil
}

// Placer places tips again when grid cells change: the tips domain's regions.Placer. A tip
// still awaiting its check that lands in a cell (one posted where no cell was yet, or placed
// anew) gets its grid worker's task then, as at intake; VerifyDays is its verify-by window
// (0: DefaultConfig's).
type Placer struct {
	VerifyDays int
}

// Name is the placer's key in the regions reports' placed counts.
func (Placer) Name() string { return "tips" }

// PlaceIn places again the tips of region regionID after its cells changed, adds the tasks of
// those now in a cell and still received, and returns how many moved, in one bulk change (one
// summary audit entry). A tip whose task is open keeps it (tasks.Store.AddMany).
func (p Placer) PlaceIn(ctx context.Context, q db.Querier, regionID int64) (int64, error) {
	var moved int64
	days := p.VerifyDays
	if days <= 0 {
		days = DefaultConfig().VerifyDays
	}
	sum := audit.Summary{Entity: "tips", Action: "place", RegionID: regionID}
	err := db.SystemBulk(ctx, q, sum, func(sum *audit.Summary) error {
		if err := q.QueryRow(ctx, `SELECT place_tips_in_region($1)`, regionID).Scan(&moved); err != nil {
			return fmt.Errorf("tips: place in region %d: %w", regionID, err)
		}
		const waiting = `SELECT t.id, ST_X(t.point), ST_Y(t.point), t.description FROM tips t, regions a
			WHERE a.id = $1 AND t.region_path <@ a.path AND t.cell_id IS NOT NULL AND t.status = $2
			ORDER BY t.id`
		rows, err := q.Query(ctx, waiting, regionID, string(Received))
		if err != nil {
			return fmt.Errorf("tips: received tips of region %d: %w", regionID, err)
		}
		due := time.Now().Add(time.Duration(days) * 24 * time.Hour)
		ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tasks.New, error) {
			var t Tip
			err := r.Scan(&t.ID, &t.Lon, &t.Lat, &t.Description)
			return verifyTask(t, due), err
		})
		if err != nil {
			return fmt.Errorf("tips: received tips of region %d: %w", regionID, err)
		}
		if _, err := (tasks.Store{}).AddMany(ctx, q, tasks.Tip, ns); err != nil {
			return err
		}
		sum.Counts = map[string]int64{"moved": moved}
		return nil
	})
	return moved, err
}

// unnamedPhotoKeys returns those of keys that no tip photo and no medium names. Run it as the
// system: both tables' policies would hide rows from anyone else.
func (Store) unnamedPhotoKeys(ctx context.Context, q db.Querier, keys []string) ([]string, error) {
	const sql = `SELECT k FROM unnest($1::text[]) k
		WHERE NOT EXISTS (SELECT 1 FROM tip_photos p WHERE p.object_key = k)
		  AND NOT EXISTS (SELECT 1 FROM media m WHERE m.object_key = k)`
	rows, err := q.Query(ctx, sql, keys)
	if err != nil {
		return nil, fmt.Errorf("tips: unnamed photo keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tips: unnamed photo keys: %w", err)
	}
	return out, nil
}
