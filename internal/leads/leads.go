package leads

import (
	"encoding/json"
	"time"
)

// The kinds of the sources in this package (vehicle_track lives beside them, in its own file).
const (
	KindMarketEntity = "market_entity" // 市场主体名录（行政审批/市场监管）
	KindPowerUser    = "power_user"    // 电力用户（供电部门）
)

// The statuses of a lead.
const (
	Open      = "open"      // 待核查: a task is out for the cell's grid worker
	Confirmed = "confirmed" // 属实: it became a site (SiteID)
	Cleared   = "cleared"   // 排除: with a reason
	Duplicate = "duplicate" // 重复: an open lead or site of the place had it already
)

// Lead is one lead (线索) and its outcome.
type Lead struct {
	ID            int64           `json:"id"`
	Kind          string          `json:"kind"`
	SourceKey     string          `json:"sourceKey"`
	ImportID      *int64          `json:"importId"`
	Status        string          `json:"status"`
	Name          string          `json:"name"`
	Address       string          `json:"address"`
	Lon           float64         `json:"lon"`
	Lat           float64         `json:"lat"`
	PremiseID     *int64          `json:"premiseId"`
	CellID        *int64          `json:"cellId"`
	Score         float64         `json:"score"`
	Reasons       []string        `json:"reasons"`
	Detail        json.RawMessage `json:"detail"`
	DuplicateOf   *int64          `json:"duplicateOf"`
	DupSiteID     *int64          `json:"duplicateOfSite"`
	SiteID        *int64          `json:"siteId"`
	TaskID        *int64          `json:"taskId"`
	DueAt         *time.Time      `json:"dueAt"`
	OutcomeReason string          `json:"outcomeReason"`
	OutcomeRef    string          `json:"outcomeRef"`
	OutcomeBy     *int64          `json:"outcomeBy"`
	OutcomeAt     *time.Time      `json:"outcomeAt"`
	CreatedAt     time.Time       `json:"createdAt"`
	UpdatedAt     time.Time       `json:"updatedAt"`
}

// Filter narrows a listing. Zero values do not filter.
type Filter struct {
	Kind     string
	Status   string
	RegionID int64 // inside this region
	After    int64 // cursor: leads with a larger id
	Limit    int
}

// Outcome is what a coordinator decides about a lead: confirmed (a site: the one given, or a
// new one of source lead) or cleared with a reason.
type Outcome struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	SiteID *int64 `json:"siteId"`
}

// HitRate is what became of one source's leads.
type HitRate struct {
	Kind       string  `json:"kind"`
	Leads      int64   `json:"leads"` // open + confirmed + cleared (duplicates apart)
	Open       int64   `json:"open"`
	Confirmed  int64   `json:"confirmed"`
	Cleared    int64   `json:"cleared"`
	Duplicates int64   `json:"duplicates"`
	SiteShare  float64 `json:"siteShare"` // confirmed / leads (0 without leads)
}

// ImportReport is what an import did. Every refused row is in Errors with its line.
type ImportReport struct {
	ImportID        int64       `json:"importId"`
	Kind            string      `json:"kind"`
	Encoding        string      `json:"encoding"`
	SHA256          string      `json:"sha256"`
	AlreadyImported bool        `json:"alreadyImported"` // the same file was imported before: nothing added
	Candidates      int         `json:"candidates"`      // records the source found worth scoring
	Created         int         `json:"created"`         // open leads, each with a task
	Duplicates      int         `json:"duplicates"`      // at the place of an open lead or site
	Known           int         `json:"known"`           // source records imported before
	BelowThreshold  int         `json:"belowThreshold"`  // scored under the threshold
	Refused         int         `json:"refused"`
	Errors          []LineIssue `json:"errors"`
	LeadIDs         []int64     `json:"leadIds"` // the leads made, open ones and duplicates
}

// LineIssue is a refused row in a report (LineError with JSON names).
type LineIssue struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Config holds the rules of the leads domain that an installation may tune.
type Config struct {
	MinScore      float64       // a candidate scored below is not a lead (0.3)
	DedupMetres   float64       // an open lead or site this close is the same place (100 m)
	ConfirmMetres float64       // a suspected inspection this close to a lead confirms it (50 m)
	VerifyWithin  time.Duration // the task's verify-by date after the import (14 days)
	MaxBytes      int64         // one imported file (32 MB)
	Market        MarketConfig
	Power         PowerConfig
}

// MarketConfig flags market entities as chemical or suspected chemical by their business scope.
type MarketConfig struct {
	ChemicalKeywords []string // 化工 ...: score ChemicalScore
	SuspectKeywords  []string // 溶剂 ...: score SuspectScore
	ChemicalScore    float64
	SuspectScore     float64
}

// PowerConfig holds the power-user rules (issue 14): industrial power at an account that is
// not a registered chemical firm; a month at least SurgeRatio × the previous and MedianRatio ×
// the median of the six before it and above FloorKWh; a residential account whose median month
// of the last six is at least ResidentialKWh (a factory's load, not a household's).
type PowerConfig struct {
	SurgeRatio       float64
	MedianRatio      float64
	FloorKWh         float64
	ResidentialKWh   float64
	IndustrialScore  float64
	SurgeScore       float64
	ResidentialScore float64
	// RegisteredTags are the premises tags of registered chemical firms (a premise of the
	// account's name with one of them is registered: its industrial power is no lead).
	RegisteredTags []string
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MinScore: 0.3, DedupMetres: 100, ConfirmMetres: 50, VerifyWithin: 14 * 24 * time.Hour, MaxBytes: 32 << 20,
		Market: MarketConfig{
			ChemicalKeywords: []string{"化工", "化学", "危险化学品", "农药", "医药中间体"},
			SuspectKeywords:  []string{"溶剂", "涂料", "油漆", "胶粘剂", "树脂", "染料", "颜料", "助剂", "稀释剂"},
			ChemicalScore:    0.8, SuspectScore: 0.5},
		Power: PowerConfig{SurgeRatio: 2, MedianRatio: 3, FloorKWh: 1000, ResidentialKWh: 2000,
			IndustrialScore: 0.4, SurgeScore: 0.7, ResidentialScore: 0.6,
			RegisteredTags: []string{"化工企业", "危化品企业", "危险化学品企业"}},
	}
}
