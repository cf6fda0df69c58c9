package api

// CommitRequest is CommitVM's request.
type CommitRequest struct {
	// Name is the new image's NAME[:TAG].
	Name string `json:"name"`
	// Message is the history entry's comment; Author its author.
	Message string `json:"message,omitempty"`
	Author  string `json:"author,omitempty"`
	// Changes are Dockerfile instructions applied to the image's config
	// (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL), in order.
	Changes []string `json:"changes,omitempty"`
}

// CommitResult is what CommitVM made.
type CommitResult struct {
	// Image is the new image.
	Image Image `json:"image"`
	// VM is the committed VM's name; Parent and ParentDigest the image it
	// was made from.
	VM           string `json:"vm"`
	Parent       string `json:"parent"`
	ParentDigest string `json:"parent_digest,omitempty"`
	// Layer is the new layer's digest (compressed) and LayerBytes its
	// size; Added, Changed and Deleted count its entries.
	Layer      string `json:"layer"`
	LayerBytes int64  `json:"layer_bytes"`
	Added      int    `json:"added"`
	Changed    int    `json:"changed"`
	Deleted    int    `json:"deleted"`
	// FrozenMS is how long a running VM was paused for its disk's copy.
	FrozenMS int64 `json:"frozen_ms,omitempty"`
}
