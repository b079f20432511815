package api

import (
	"context"
	"regexp"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sieve-city/sieve/openapi"
)

// specRoutes returns "METHOD /path" for every operation in the specification.
func specRoutes(t *testing.T) []string {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec())
	if err != nil {
		t.Fatalf("spec does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("spec is not valid OpenAPI 3: %v", err)
	}
	var out []string
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			out = append(out, m+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

var echoParam = regexp.MustCompile(`:(\w+)`)

// serverRoutes returns "METHOD /path" for every route the server registers, with Echo's :param
// written as the specification's {param}.
func serverRoutes(s *Server) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range s.Echo().Routes() {
		if r.Method == "echo_route_not_found" {
			continue
		}
		k := r.Method + " " + echoParam.ReplaceAllString(r.Path, "{$1}")
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func TestSpecMatchesRoutes(t *testing.T) {
	s := New(Deps{Log: nil, Registry: prometheus.NewRegistry(), BodyLimit: 1 << 20, UploadLimit: 1 << 20})
	spec, served := specRoutes(t), serverRoutes(s)
	inSpec := map[string]bool{}
	for _, r := range spec {
		inSpec[r] = true
	}
	inServer := map[string]bool{}
	for _, r := range served {
		inServer[r] = true
		if !inSpec[r] {
			t.Errorf("served but not in openapi.yaml: %s", r)
		}
	}
	for _, r := range spec {
		if !inServer[r] {
			t.Errorf("in openapi.yaml but not served: %s", r)
		}
	}
}
