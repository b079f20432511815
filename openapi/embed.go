// Package openapi holds the OpenAPI 3 specification of Sieve's HTTP API: the contract the
// grid-worker app and the coordinators' map are built against. The server serves it at
// /openapi.yaml and renders it at /docs; a test checks that it lists exactly the routes served.
package openapi

import _ "embed"

//go:embed openapi.yaml
var spec []byte

// Spec returns the YAML text of the specification.
func Spec() []byte { return spec }
