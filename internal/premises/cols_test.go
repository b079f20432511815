package premises

import (
	"strings"
	"testing"

	"github.com/sieve-city/sieve/gis"
)

// TestPremiseColsUseAsGeoJSON: the register writes its points with the one GeoJSON builder.
func TestPremiseColsUseAsGeoJSON(t *testing.T) {
	if want := gis.AsGeoJSON("p.geom"); !strings.Contains(premiseCols, want) {
		t.Fatalf("premiseCols does not select %s:\n%s", want, premiseCols)
	}
}
