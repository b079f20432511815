// Package leads turns data (market-entity lists 市场主体, power users 电力用户, hazardous-chemical
// vehicle tracks 危化品车辆轨迹) into leads 线索: each is placed in its grid cell, scored,
// de-duplicated against open leads and sites, and handed to the cell's worker as a task; its
// outcome (confirmed → a site, or cleared with a reason) is kept so the city learns which sources
// find real workshops.
//
// A source of leads is one Source; the service takes them at construction, so adding a kind is
// one line in cmd/sieve/wiring.go.
package leads

import (
	"context"
	"io"

	"github.com/jackc/pgx/v5"
)

// Candidate is one lead a source found, before placement, scoring threshold and de-duplication.
type Candidate struct {
	SourceKey     string // stable key of the source record; importing it again adds nothing
	Name, Address string
	Lon, Lat      *float64       // WGS84, when known
	PremiseID     *int64         // when the source matched a premise
	Score         float64        // 0..1, higher = more likely a workshop
	Reasons       []string       // zh-CN phrases shown to coordinators, e.g. "月用电量为前月 3.2 倍"
	Detail        map[string]any // the source's own facts (JSON)
}

// LineError reports one bad input row by its line number.
type LineError struct {
	Line          int
	Code, Message string
}

// Input is one uploaded file as a stream, already decoded to UTF-8 (the leads package detects
// UTF-8/GBK as it reads, see Text). A source reads it once, front to back, and should not keep
// more of it than its rule needs: the file may be far larger than memory.
type Input struct {
	Name string
	Body io.Reader
}

// Limited is a Source whose files may be larger (or must be smaller) than the service's
// Config.MaxBytes: the vehicle tracks, whose rows stream straight into COPY.
type Limited interface {
	MaxBytes() int64
}

// Source is one kind of lead data. Import may write its own staging tables in tx (tracks COPYs
// points there) and returns the candidates it found and the rows it refused.
type Source interface {
	Kind() string // "market_entity" | "power_user" | "vehicle_track"
	Import(ctx context.Context, tx pgx.Tx, in Input) ([]Candidate, []LineError, error)
}
