package dockerapi

import "net/http"

// eventRoutes: the event stream goes here.
func (s *Server) eventRoutes(*http.ServeMux) {}
