package ledgers

import (
	"context"
	"errors"
)

func (s *Service) render(ctx context.Context, req Request) (File, error) {
	return File{}, errors.New("ledgers: not yet implemented")
}
