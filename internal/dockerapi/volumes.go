package dockerapi

import "net/http"

// volumeRoutes: the volume endpoints go here.
func (s *Server) volumeRoutes(*http.ServeMux) {}
