package benchstack

import (
	"os"
	"runtime/pprof"
)

// CPUProfile writes a CPU profile of n calls of fn to file, for the in-process benchmarks'
// -cpuprofile flags (`go tool pprof FILE`).
func CPUProfile(file string, n int, fn func() error) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for i := 0; i < n; i++ {
		if err := fn(); err != nil {
			return err
		}
	}
	return nil
}
