package apperr

import (
	"errors"
	"fmt"
	"testing"
)

func TestIsMatchesByCode(t *testing.T) {
	err := fmt.Errorf("premises: get 7: %w", ErrNotFound.Wrap(errors.New("no rows")))
	if !errors.Is(err, ErrNotFound) {
		t.Fatal("wrapped not-found is not ErrNotFound")
	}
	if errors.Is(err, ErrForbidden) {
		t.Fatal("not-found matched forbidden")
	}
	e, ok := As(err)
	if !ok || e.Status != 404 || e.Err == nil {
		t.Fatalf("As: %v %v", e, ok)
	}
}

func TestWrapDoesNotMutateSentinel(t *testing.T) {
	_ = ErrInvalid.Wrap(errors.New("cause")).WithDetails("x")
	if ErrInvalid.Err != nil || ErrInvalid.Details != nil {
		t.Fatal("sentinel mutated")
	}
}
