package api

// routes is the route table: every path the server answers, on one screen. Each route also
// appears in openapi/openapi.yaml (TestSpecMatchesRoutes holds the two together).
func (s *Server) routes() {
	e := s.echo

	// Operations, outside /api/v1.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())
	e.GET("/openapi.yaml", s.openapiSpec)
	e.GET("/docs", s.docs)
}
