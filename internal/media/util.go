package media

import (
	"errors"
	"fmt"
)

func apperrf(format string, a ...any) error { return errors.New(fmt.Sprintf(format, a...)) }
