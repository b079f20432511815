package imagery

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// fixture returns the bytes of testdata/name.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureReader returns testdata/name as an io.ReaderAt and its size.
func fixtureReader(t testing.TB, name string) (*bytes.Reader, int64) {
	b := fixture(t, name)
	return bytes.NewReader(b), int64(len(b))
}
