package dockerapi

import "net/http"

// containerRoutes: the container endpoints; a container is a VM.
func (s *Server) containerRoutes(*http.ServeMux) {}
