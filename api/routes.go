package api

import (
	"net/http"

	"github.com/sieve-city/sieve/internal/accounts"
)

// v1 is the base path of the versioned API.
const v1 = "/api/v1"

// routes is the route table: every path the server answers, on one screen, each with the
// permission it needs (accounts.grants says which roles have it; row-level security limits it
// to the caller's area) and its options (takesFiles: the upload limit instead of the JSON body
// limit). Each route also appears in openapi/openapi.yaml (TestSpecMatchesRoutes holds the two
// together), and every test request and answer is checked against it (openapi/contract).
func (s *Server) routes() {
	e := s.echo

	// Operations, outside /api/v1, no login.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", s.metricsHandler())
	e.GET("/openapi.yaml", s.openapiSpec)
	e.GET("/docs", s.docs)

	const (
		public = accounts.PermPublic
		authed = accounts.PermAuthenticated
	)
	// Session.
	s.route(http.MethodPost, v1+"/auth/login", public, s.login)
	s.route(http.MethodPost, v1+"/auth/logout", authed, s.logout)
	s.route(http.MethodGet, v1+"/me", authed, s.me)

	// People.
	s.route(http.MethodGet, v1+"/users", accounts.PermManageUsers, s.listUsers)
	s.route(http.MethodPost, v1+"/users", accounts.PermManageUsers, s.createUser)
	s.route(http.MethodGet, v1+"/users/:id", accounts.PermManageUsers, s.getUser)
	s.route(http.MethodPatch, v1+"/users/:id", accounts.PermManageUsers, s.updateUser)
	s.route(http.MethodGet, v1+"/audit", accounts.PermReadAudit, s.listAudit)

	// Regions, cells and premises (regions_handlers.go, premises_handlers.go).
	s.route(http.MethodPost, v1+"/regions/import", accounts.PermManageRegions, s.importRegions, takesFiles)
	s.route(http.MethodGet, v1+"/regions", accounts.PermRead, s.listRegions)
	s.route(http.MethodGet, v1+"/regions/:id", accounts.PermRead, s.getRegion)
	s.route(http.MethodPost, v1+"/regions/:id/cells", accounts.PermManageRegions, s.generateCells)
	s.route(http.MethodPost, v1+"/premises/import", accounts.PermManagePremises, s.importPremises, takesFiles)
	s.route(http.MethodGet, v1+"/premises", accounts.PermRead, s.listPremises)
	s.route(http.MethodPost, v1+"/premises", accounts.PermAddPremise, s.createPremise)
	s.route(http.MethodGet, v1+"/premises/:id", accounts.PermRead, s.getPremise)
	s.route(http.MethodPatch, v1+"/premises/:id", accounts.PermManagePremises, s.updatePremise)

	// Media and drone surveys (media_handlers.go, surveys_handlers.go). The upload slots are
	// presigned URLs straight to MinIO.
	s.route(http.MethodPost, v1+"/media", accounts.PermUploadMedia, s.uploadMedia, takesFiles)
	s.route(http.MethodGet, v1+"/media/:id", accounts.PermRead, s.getMedia)
	s.route(http.MethodGet, v1+"/media/:id/original", accounts.PermRead, s.getMediaOriginal)
	s.route(http.MethodGet, v1+"/media/:id/thumbnail", accounts.PermRead, s.getMediaThumbnail)
	s.route(http.MethodPost, v1+"/uploads", accounts.PermUploadMedia, s.createUploads)
	s.route(http.MethodPost, v1+"/uploads/:id/complete", accounts.PermUploadMedia, s.completeUpload)
	s.route(http.MethodGet, v1+"/surveys", accounts.PermRead, s.listSurveys)
	s.route(http.MethodPost, v1+"/surveys", accounts.PermManageSurveys, s.createSurvey)
	s.route(http.MethodGet, v1+"/surveys/:id", accounts.PermRead, s.getSurvey)
	s.route(http.MethodPost, v1+"/surveys/:id/uploads", accounts.PermManageSurveys, s.createSurveyUploads)
	s.route(http.MethodPost, v1+"/surveys/:id/uploads/:uploadId/complete", accounts.PermManageSurveys, s.completeSurveyUpload)
	s.route(http.MethodGet, v1+"/surveys/:id/images", accounts.PermRead, s.listSurveyImages)

	// Rounds, inspections and their evidence, re-checks (inspections_handlers.go).

	// Phone sync (sync_handlers.go).

	// Suspected sites and their cases (sites_handlers.go).

	// Coverage, tiles and the map page (issue 12).
	s.route(http.MethodGet, v1+"/coverage", accounts.PermRead, s.getCoverage)
	s.route(http.MethodGet, v1+"/coverage/series", accounts.PermRead, s.getCoverageSeries)
	s.route(http.MethodGet, v1+"/coverage/gaps", accounts.PermRead, s.getCoverageGaps)
	s.route(http.MethodPost, v1+"/coverage/gaps/tasks", accounts.PermManageRegions, s.createGapTasks)
	s.route(http.MethodGet, tilePath, accounts.PermRead, s.getTile)
	s.route(http.MethodGet, v1+"/layers/:layer", accounts.PermRead, s.getLayer)
	e.GET("/map", s.mapPage)
	e.GET("/login", s.loginPage)
	e.GET("/map/assets/:file", s.mapAsset)
	e.GET("/map/vendor/:file", s.mapVendor)
	e.GET("/map/glyphs/:fontstack/:range", s.mapGlyphs)
}
