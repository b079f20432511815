package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/chinatime"
	"github.com/sieve-city/sieve/internal/db"
	"github.com/sieve-city/sieve/internal/media"
	"github.com/sieve-city/sieve/internal/sites"
	"github.com/sieve-city/sieve/internal/tips"
)

// The demo's public tips (群众举报, issue 14): a handful posted and handled through the real tips
// service — the intake (throttled, placed in its cell, a task for the cell's grid worker), the
// coordinator's verdicts, a site opened from a tip, a reward proposed — so that the coordinators'
// tip pages, the city's reward approvals and the map show something. Most lie in 朱阁镇, whose
// coordinator (zhuge) handles them; one in 颍川街道 is the city's; one has only an address.
//
//	received         朱阁镇, with the reporter's name and phone, and a photo when the demo has photos
//	valid → site     朱阁镇 (a site of source tip, linked to the tip)
//	duplicate        朱阁镇, 10 m from the previous one
//	reward_proposed  朱阁镇, valid → site → fine 50,000 yuan → reward 7,500 yuan, awaiting the city
//	invalid          颍川街道, verified by the city office as nothing (with a reason)
//	received         an address only: the city's to place
//
// They are added once: when the database holds any tip, nothing is done (so an older demo city
// gets them on its next start, and a second run adds nothing).

// demoTipCount is how many tips demoTips posts.
const demoTipCount = 6

// demoTip is one tip to post and the moves to make on it.
type demoTip struct {
	sub      tips.Submission
	photo    bool        // with a generated photo (when the demo stores photos)
	moves    []tips.Move // made by the coordinator (or the city office, city true)
	site     bool        // open a site from it after the moves
	after    []tips.Move // moves after the site (the reward)
	dupOfIdx int         // for a duplicate: the index of the earlier tip (-1: none)
	city     bool        // handled by the city office instead of zhuge
	point    *[2]float64 // set from the chosen places
}

// demoTips posts and handles the demo's tips through ts (photos through its media service, when
// it has one) and returns how many it posted: 0 when the database holds tips already.
func demoTips(ctx context.Context, pool *pgxpool.Pool, ts *tips.Service, withPhotos bool) (int, error) {
	var (
		exists           bool
		cands            []candidate
		zhugeID, adminID int64
		zhugePath        string
	)
	err := db.ReadInScope(ctx, pool, db.System("demo"), func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tips)`).Scan(&exists); err != nil || exists {
			return err
		}
		// Premises of 朱阁镇 (411081113) and of 颍川街道 (411081001), in id order: deterministic,
		// the demo data are seeded. demoPlaces picks three of 朱阁镇's far apart, and one of 颍川街道.
		const pick = `SELECT t.code, ST_X(p.geom), ST_Y(p.geom) FROM regions t
			CROSS JOIN LATERAL (SELECT geom FROM premises p WHERE p.region_path <@ t.path AND p.geom IS NOT NULL
				ORDER BY p.id LIMIT 500) p
			WHERE t.code IN ('411081113', '411081001') AND t.level = 'township'`
		rows, err := tx.Query(ctx, pick)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.township, &c.lon, &c.lat); err != nil {
				return err
			}
			cands = append(cands, c)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT (SELECT id FROM users WHERE username = 'admin'), z.id, z.region_path::text
			FROM users z WHERE z.username = 'zhuge'`).Scan(&adminID, &zhugeID, &zhugePath)
	})
	if err != nil || exists {
		return 0, err
	}
	places, ok := demoPlaces(cands)
	if !ok {
		return 0, nil // a city too small for them (sieve demo --premises 100): no tips
	}
	admin := db.Actor{UserID: adminID, Username: "admin", Role: string(accounts.CityAdmin)}
	zhuge := db.Actor{UserID: zhugeID, Username: "zhuge", Role: string(accounts.TownshipCoordinator), Scope: []string{zhugePath}}

	fine := 50000.0
	note := "已核实，感谢您的举报"
	near := [2]float64{places[1][0], places[1][1] + 0.00009} // ~10 m north of the second place
	list := []demoTip{
		{sub: tips.Submission{Description: "村东头废弃养殖场夜里有人进出，有刺鼻气味，疑似生产化工产品", Address: "朱阁镇村东头废弃养殖场",
			Name: "李先生", Phone: "13800000001"}, photo: true, point: &places[0], dupOfIdx: -1},
		{sub: tips.Submission{Description: "闲置厂房里有反应釜和很多塑料桶，晚上开工", Address: "朱阁镇闲置厂房"},
			moves: []tips.Move{{To: tips.Valid, PublicNote: &note}}, site: true, point: &places[1], dupOfIdx: -1},
		{sub: tips.Submission{Description: "厂房晚上有刺鼻气味，和上周举报的是同一个地方", Name: "王女士", Phone: "13800000002"},
			point: &near, dupOfIdx: 1},
		{sub: tips.Submission{Description: "民房后院有人用大锅熬制不明液体，排水沟发黑", Address: "朱阁镇某村民房后院",
			Name: "赵先生", Phone: "13800000003"},
			moves: []tips.Move{{To: tips.Valid, PublicNote: &note}}, site: true,
			after: []tips.Move{{To: tips.RewardProposed, FineYuan: &fine}}, point: &places[2], dupOfIdx: -1},
		{sub: tips.Submission{Description: "小区地下室有人存放油漆", Address: "颍川街道某小区"},
			moves: []tips.Move{{To: tips.Invalid, Reason: "现场核查为装修公司正常存放的少量涂料，已督促规范存放"}}, city: true,
			point: &places[3], dupOfIdx: -1},
		{sub: tips.Submission{Description: "听说山里有个小作坊在做农药，具体位置不清楚", Address: "方山镇北部山区"}, dupOfIdx: -1},
	}
	ids := make([]int64, len(list))
	for i, dt := range list {
		if dt.point != nil {
			lon, lat := dt.point[0], dt.point[1]
			dt.sub.Lon, dt.sub.Lat = &lon, &lat
		}
		// Each tip from its own documentation address (RFC 5737), within the limits.
		in, err := ts.Begin(ctx, tips.Client{Addr: fmt.Sprintf("198.51.100.%d", 10+i)})
		if err != nil {
			return i, fmt.Errorf("demo: tip %d: %w", i+1, err)
		}
		if dt.photo && withPhotos {
			img, err := demoJPEG(demoScene(uint64(7000+i)), 85, *dt.sub.Lon, *dt.sub.Lat, time.Now().Add(-2*time.Hour).In(chinatime.Zone))
			if err == nil {
				err = in.AddPhoto(ctx, bytes.NewReader(img))
			}
			if err != nil {
				in.Abort(true)
				return i, fmt.Errorf("demo: tip %d's photo: %w", i+1, err)
			}
		}
		_, t, err := in.Submit(ctx, dt.sub, "")
		if err != nil {
			in.Abort(true)
			return i, fmt.Errorf("demo: tip %d: %w", i+1, err)
		}
		ids[i] = t.ID
		actor, caller := zhuge, tips.Caller{UserID: zhugeID, Role: accounts.TownshipCoordinator}
		if dt.city {
			actor, caller = admin, tips.Caller{UserID: adminID, Role: accounts.CityAdmin}
		}
		moves := dt.moves
		if dt.dupOfIdx >= 0 {
			first := ids[dt.dupOfIdx]
			moves = append(moves, tips.Move{To: tips.Duplicate, DuplicateOf: &first})
		}
		err = db.InScope(ctx, pool, actor, func(tx pgx.Tx) error {
			for _, m := range moves {
				if _, err := ts.Move(ctx, tx, t.ID, m, caller); err != nil {
					return err
				}
			}
			if dt.site {
				n := sites.NewSite{Classes: []sites.Class{sites.Unlicensed}, FirmName: "无名作坊（群众举报）",
					Note: "由群众举报转入"}
				if _, err := ts.ToSite(ctx, tx, t.ID, n, caller.UserID); err != nil {
					return err
				}
			}
			for _, m := range dt.after {
				if _, err := ts.Move(ctx, tx, t.ID, m, caller); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return i + 1, fmt.Errorf("demo: tip %d's handling: %w", i+1, err)
		}
	}
	return len(list), nil
}

// demoTips builds the tips service the way serve does (the configured rules, media's checks for
// the photos when svc is given, the sites domain) and posts the demo's tips through it.
func (a *app) demoTips(ctx context.Context, svc *media.Service, withPhotos bool) (int, error) {
	ts, err := tips.New(tips.Deps{Pool: a.pool, Media: svc, Sites: a.sitesService(), Now: time.Now, Log: a.log}, a.cfg.Tips)
	if err != nil {
		return 0, err
	}
	n, err := demoTips(ctx, a.pool, ts, withPhotos && svc != nil)
	if err != nil {
		return n, fmt.Errorf("demo: tips: %w", err)
	}
	return n, nil
}

// candidate is a premise's point in a township, where a demo tip may be placed.
type candidate struct {
	township string
	lon, lat float64
}

// demoPlaces picks the demo tips' places from cands: three points of 朱阁镇 (411081113) each more
// than 300 m from the others (so that only the duplicate is a duplicate, and the proposed reward
// has no earlier valid tip of its place), greedily in the given order, and the first of 颍川街道
// (411081001). ok is false when there are not enough.
func demoPlaces(cands []candidate) (places [][2]float64, ok bool) {
	var far [][2]float64
	var other *[2]float64
	for _, c := range cands {
		p := [2]float64{c.lon, c.lat}
		switch {
		case c.township == "411081001":
			if other == nil {
				other = &p
			}
		case len(far) < 3:
			apart := true
			for _, q := range far {
				apart = apart && metres(p, q) > 300
			}
			if apart {
				far = append(far, p)
			}
		}
	}
	if len(far) < 3 || other == nil {
		return nil, false
	}
	return append(far, *other), true
}

// metres is the distance between two lon/lat points (an equirectangular approximation, good to
// well under a percent at a few kilometres).
func metres(a, b [2]float64) float64 {
	const r = 6371000.0
	lat := (a[1] + b[1]) / 2 * math.Pi / 180
	dx := (a[0] - b[0]) * math.Pi / 180 * math.Cos(lat)
	dy := (a[1] - b[1]) * math.Pi / 180
	return r * math.Hypot(dx, dy)
}
