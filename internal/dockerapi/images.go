package dockerapi

import "net/http"

// imageRoutes: the image endpoints (pull, list, inspect, tag, remove,
// push, save, load, history, build) go here.
func (s *Server) imageRoutes(*http.ServeMux) {}
