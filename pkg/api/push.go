package api

// The requests of image tag and push (save and load carry theirs in the
// query, see queries.go).

// TagImageRequest asks for POST /v1/images/tag.
type TagImageRequest struct {
	// Source is the image to tag: a name, reference or id prefix.
	Source string `json:"source"`
	// Name is the new NAME[:TAG].
	Name string `json:"name"`
}

// PushImageRequest asks for POST /v1/images/push.
type PushImageRequest struct {
	// Name is the image to push: a name, reference or id prefix.
	Name string `json:"name"`
	// Reference is where to push it; empty means the image's own name.
	Reference string `json:"reference,omitempty"`
}

// PushResult answers PushImage.
type PushResult struct {
	// Reference is where the image went, canonical
	// ("127.0.0.1:5000/me/app:1").
	Reference string `json:"reference"`
	// Digest is the pushed manifest's digest: the image's own.
	Digest string `json:"digest"`
	// Layers is how many layers the image has; Uploaded how many the
	// registry did not have already.
	Layers   int `json:"layers"`
	Uploaded int `json:"uploaded"`
}
