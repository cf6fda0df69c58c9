package dockerapi

import "net/http"

// execRoutes: exec create/start/inspect/resize and the archive endpoints
// (docker cp) go here.
func (s *Server) execRoutes(*http.ServeMux) {}
