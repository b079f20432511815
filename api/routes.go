package api

import (
	"net/http"

	"github.com/sieve-city/sieve/internal/accounts"
	"github.com/sieve-city/sieve/internal/reports"
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
	s.route(http.MethodPost, v1+"/me/password", authed, s.changePassword)

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
	s.route(http.MethodGet, v1+"/rounds", accounts.PermRead, s.listRounds)
	s.route(http.MethodPost, v1+"/rounds", accounts.PermSuperviseInspections, s.createRound)
	s.route(http.MethodPost, v1+"/inspections", accounts.PermInspect, s.createInspection)
	s.route(http.MethodGet, v1+"/inspections", accounts.PermRead, s.listInspections)
	s.route(http.MethodGet, v1+"/inspections/stats", accounts.PermRead, s.inspectionStats)
	s.route(http.MethodGet, v1+"/inspections/:id", accounts.PermRead, s.getInspection)
	s.route(http.MethodPost, v1+"/inspections/:id/review", accounts.PermSuperviseInspections, s.reviewInspection)
	s.route(http.MethodPost, v1+"/rechecks", accounts.PermSuperviseInspections, s.createRechecks)
	s.route(http.MethodGet, v1+"/rechecks/summary", accounts.PermRead, s.recheckSummary)

	// Phone sync (sync_handlers.go): the caller's cells, for those who record visits; gzipped.
	s.route(http.MethodGet, v1+"/sync", accounts.PermInspect, gzipped(s.sync))

	// Suspected sites and their cases (sites_handlers.go): the workflow's moves, images by place
	// and by hand, disposal actions by class, responsible persons, the exited-enterprise register.
	s.route(http.MethodGet, v1+"/sites", accounts.PermRead, s.listSites)
	s.route(http.MethodPost, v1+"/sites", accounts.PermManageSites, s.createSite)
	s.route(http.MethodGet, v1+"/sites/:id", accounts.PermRead, s.getSite)
	s.route(http.MethodPatch, v1+"/sites/:id", accounts.PermManageSites, s.updateSite)
	s.route(http.MethodGet, v1+"/sites/:id/transitions", accounts.PermRead, s.listSiteEvents)
	s.route(http.MethodPost, v1+"/sites/:id/transitions", accounts.PermManageSites, s.moveSite)
	s.route(http.MethodGet, v1+"/sites/:id/media", accounts.PermRead, s.listSiteMedia)
	s.route(http.MethodPost, v1+"/sites/:id/media/link", accounts.PermManageSites, s.linkSiteMedia)
	s.route(http.MethodPost, v1+"/sites/:id/media/unlink", accounts.PermManageSites, s.unlinkSiteMedia)
	s.route(http.MethodGet, v1+"/sites/:id/actions/options", accounts.PermRead, s.siteActionOptions)
	s.route(http.MethodGet, v1+"/sites/:id/actions", accounts.PermRead, s.listSiteActions)
	s.route(http.MethodPost, v1+"/sites/:id/actions", accounts.PermActOnSites, s.addSiteAction)
	s.route(http.MethodGet, v1+"/sites/:id/persons", accounts.PermRead, s.listSitePersons)
	s.route(http.MethodPost, v1+"/sites/:id/persons", accounts.PermManageSites, s.addSitePerson)
	s.route(http.MethodPatch, v1+"/site-actions/:id", accounts.PermActOnSites, s.updateSiteAction)
	s.route(http.MethodGet, v1+"/overdue-actions", accounts.PermRead, s.listOverdueActions)
	s.route(http.MethodGet, v1+"/exited-enterprises", accounts.PermRead, s.listExited)
	s.route(http.MethodPost, v1+"/exited-enterprises/import", accounts.PermManagePremises, s.importExited, takesFiles)

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

	// Ledgers: the seed's forms 附件1/2/3 made from the data (issue 13, ledgers_handlers.go).
	s.route(http.MethodGet, v1+"/ledgers/illegal", accounts.PermManageLedgers, s.getIllegalLedger)
	s.route(http.MethodGet, v1+"/ledgers/exited", accounts.PermManageLedgers, s.getExitedLedger)
	s.route(http.MethodGet, v1+"/ledgers/exited-list", accounts.PermManageLedgers, s.getExitedList)

	// Monthly filings of the ledgers (issue 13, reports_handlers.go): the city office and the
	// coordinators (ledgers:manage), each in their area; large exports as background jobs.
	s.route(http.MethodGet, v1+"/reports", accounts.PermManageLedgers, s.listReports)
	s.route(http.MethodPost, v1+"/reports", accounts.PermManageLedgers, s.createReport)
	s.route(http.MethodGet, v1+"/reports/status", accounts.PermManageLedgers, s.reportStatus)
	s.route(http.MethodGet, v1+"/reports/:id", accounts.PermManageLedgers, s.getReport)
	s.route(http.MethodGet, v1+"/reports/:id/illegal", accounts.PermManageLedgers, s.reportFile(reports.PartIllegal))
	s.route(http.MethodGet, v1+"/reports/:id/exited", accounts.PermManageLedgers, s.reportFile(reports.PartExited))
	s.route(http.MethodGet, v1+"/reports/:id/scan", accounts.PermManageLedgers, s.reportFile(reports.PartScan))
	s.route(http.MethodPost, v1+"/reports/:id/scan", accounts.PermManageLedgers, s.attachReportScan, takesFiles)
	s.route(http.MethodPost, v1+"/exports", accounts.PermManageLedgers, s.createExport)
	s.route(http.MethodGet, v1+"/exports/:id", accounts.PermManageLedgers, s.getExport)

	// Leads from data: market entities, power users (issue 14, leads_handlers.go).
	s.route(http.MethodPost, v1+"/leads/import", accounts.PermManageLeads, s.importLeads, leadsBody)
	s.route(http.MethodGet, v1+"/leads", accounts.PermRead, s.listLeads)
	s.route(http.MethodGet, v1+"/leads/hit-rates", accounts.PermRead, s.leadHitRates)
	s.route(http.MethodGet, v1+"/leads/:id", accounts.PermRead, s.getLead)
	s.route(http.MethodPatch, v1+"/leads/:id", accounts.PermManageLeads, s.decideLead)

	// Leads from hazardous-chemical vehicle tracks (issue 14, tracks_handlers.go).
	s.route(http.MethodGet, v1+"/tracks/exclusions", accounts.PermRead, s.listTrackExclusions)
	s.route(http.MethodPost, v1+"/tracks/exclusions", accounts.PermManageLeads, s.addTrackExclusion)
	s.route(http.MethodPatch, v1+"/tracks/exclusions/:id", accounts.PermManageLeads, s.updateTrackExclusion)

	// Public tips, rewards and credit listing (issue 14, tips_handlers.go): the public posts a
	// tip and follows it by its code without login; coordinators verify, de-duplicate, open
	// sites and propose rewards and listings; the city approves, pays and exports.
	s.route(http.MethodPost, v1+"/tips", public, s.postTip, tipBody)
	s.route(http.MethodGet, v1+"/tips/:code", public, s.getTipStatus)
	s.route(http.MethodGet, v1+"/tip-cases", accounts.PermHandleTips, s.listTips)
	s.route(http.MethodGet, v1+"/tip-cases/:id", accounts.PermHandleTips, s.getTip)
	s.route(http.MethodPost, v1+"/tip-cases/:id/transitions", accounts.PermHandleTips, s.moveTip)
	s.route(http.MethodPost, v1+"/tip-cases/:id/site", accounts.PermHandleTips, s.tipToSite)
	s.route(http.MethodGet, v1+"/tip-cases/:id/contact", accounts.PermReadTipContacts, s.getTipContact)
	s.route(http.MethodGet, v1+"/tip-cases/:id/photos/:photoId", accounts.PermHandleTips, s.getTipPhoto)
	s.route(http.MethodGet, v1+"/credit-listings", accounts.PermProposeListing, s.listCreditListings)
	s.route(http.MethodPost, v1+"/credit-listings", accounts.PermProposeListing, s.proposeCreditListing)
	s.route(http.MethodPost, v1+"/credit-listings/:id/transitions", accounts.PermDecideListing, s.decideCreditListing)
	s.route(http.MethodGet, v1+"/credit-listings/export", accounts.PermDecideListing, s.exportCreditRegister)
}
