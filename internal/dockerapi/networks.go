package dockerapi

import "net/http"

// networkRoutes: the network endpoints go here.
func (s *Server) networkRoutes(*http.ServeMux) {}
