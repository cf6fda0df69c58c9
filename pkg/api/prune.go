package api

// PruneImagesRequest asks for POST /v1/images/prune.
type PruneImagesRequest struct {
	// All also removes every image no VM uses, not only the build cache.
	All bool `json:"all,omitempty"`
	// BuildCache removes only the build cache: its images, its step
	// files and the blobs only those images named.
	BuildCache bool `json:"build_cache,omitempty"`
	// DryRun answers what would go and removes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// PruneImagesResult answers PruneImages.
type PruneImagesResult struct {
	// Images are the named images removed (with All).
	Images []Image `json:"images"`
	// CacheImages are the names of the build cache images removed.
	CacheImages []string `json:"cache_images"`
	// Blobs are the digests of the blob cache files removed.
	Blobs []string `json:"blobs"`
	// StepFiles counts the build step files removed.
	StepFiles int `json:"step_files"`
	// BytesFreed is the disk space given back.
	BytesFreed int64 `json:"bytes_freed"`
	// DryRun says nothing was removed: the lists are what would go.
	DryRun bool `json:"dry_run,omitempty"`
	// Notes say what was kept that the request would have removed, and why.
	Notes []string `json:"notes,omitempty"`
}
