package inspections

import (
	"context"
	"errors"

	"github.com/riverqueue/river"

	"github.com/sieve-city/sieve/internal/apperr"
	"github.com/sieve-city/sieve/internal/jobs"
)

// queueName is the River queue of the evidence checks.
const queueName = "inspections"

// EvidenceArgs is the job that runs the evidence check of one inspection (Service.Check).
type EvidenceArgs struct {
	InspectionID string `json:"inspection_id"`
}

// Kind names the job in River's table.
func (EvidenceArgs) Kind() string { return "inspection_evidence" }

// InsertOpts puts the job in the inspections queue.
func (EvidenceArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queueName} }

var _ jobs.Domain = (*Service)(nil)

// Register adds the evidence worker (jobs.Domain).
func (s *Service) Register(w *river.Workers) { river.AddWorker(w, &evidenceWorker{s: s}) }

// Periodic lists no periodic jobs (jobs.Domain).
func (s *Service) Periodic() []*river.PeriodicJob { return nil }

// Queues names the inspections queue (jobs.Domain).
func (s *Service) Queues() []string { return []string{queueName} }

type evidenceWorker struct {
	river.WorkerDefaults[EvidenceArgs]
	s *Service
}

// Work runs the check; an inspection that no longer exists cancels the job.
func (w *evidenceWorker) Work(ctx context.Context, job *river.Job[EvidenceArgs]) error {
	_, err := w.s.Check(ctx, job.Args.InspectionID)
	if errors.Is(err, apperr.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}
