package api

import "net/http"

// Handle registers a typed handler for a KindJSON endpoint: the request
// value is decoded before h runs (a bad one answers 400), and h's answer
// is the response; a None answer is 204.
func Handle[In, Out any](rt *Router, e Endpoint[In, Out], h func(*http.Request, In) (Out, error)) {
	rt.json(e, func(r *http.Request) (any, error) {
		in, err := e.Decode(r)
		if err != nil {
			return nil, err
		}
		out, err := h(r, in)
		if err != nil {
			return nil, err
		}
		if _, none := any(out).(None); none {
			return nil, nil
		}
		return out, nil
	})
}

// HandleStream registers a typed handler for a KindEvents or KindUpload
// endpoint: the request value is decoded before h runs (a bad one ends the
// stream with its error), h reports progress on ew, and its answer is the
// stream's result. An upload's body is r.Body.
func HandleStream[In, Out any](rt *Router, e Endpoint[In, Out], h func(*http.Request, In, *EventWriter) (Out, error)) {
	rt.stream(e, func(r *http.Request, ew *EventWriter) (any, error) {
		in, err := e.Decode(r)
		if err != nil {
			return nil, err
		}
		return h(r, in, ew)
	})
}
