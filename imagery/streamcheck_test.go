package imagery

import (
	"os"
	"path/filepath"
	"testing"
)

// TestStreamChecker feeds the fixtures through the stream checker in small pieces.
func TestStreamChecker(t *testing.T) {
	cases := []struct {
		file string
		ok   bool
	}{
		{"iphone_hdr_NO.jpg", true},
		{"HMD_Nokia_8.3_5G.jpg", true},
		{"DSCN0010.jpg", true},
		{"landscape_6.jpg", true},
		{"dji_attr.jpg", true},
		{"gps_lat250.jpg", true},
		{"png_named.jpg", true},
		{"truncated.jpg", false},
		{"corrupted.jpg", false},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Sniff(data[:min(len(data), SniffLen)])
			if err != nil {
				t.Fatal(err)
			}
			c := NewStreamChecker(f)
			for len(data) > 0 {
				n := min(len(data), 1000)
				c.Write(data[:n])
				data = data[n:]
			}
			err = c.Finish()
			if (err == nil) != tc.ok {
				t.Fatalf("Finish() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
