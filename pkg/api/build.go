package api

// BuildImageQuery is BuildImage's request; the body is the build upload:
// a tar stream whose first entry is the Dockerfile ("Dockerfile") and
// whose other entries are the context's files under "context/" (what the
// CLI packs, honouring .dockerignore; see internal/buildctx).
type BuildImageQuery struct {
	// Tag is the result's NAME[:TAG] (required).
	Tag string `query:"tag"`
	// BuildArgs are --build-arg KEY=VALUE values.
	BuildArgs []string `query:"build_arg"`
	// Target names the stage to build; empty builds the last.
	Target string `query:"target"`
	// NoCache runs every step, looking nothing up in the build cache.
	NoCache bool `query:"no_cache"`
}

// BuildResult is a finished build: the recorded image and each step's
// outcome.
type BuildResult struct {
	Image Image       `json:"image"`
	Steps []BuildStep `json:"steps"`
	// Seconds is the whole build's time.
	Seconds float64 `json:"seconds"`
}

// BuildStep is one instruction's outcome: Stage and Step count from 1
// (a stage's FROM is its step 1), as the progress lines say them.
type BuildStep struct {
	Stage       int     `json:"stage"`
	Step        int     `json:"step"`
	Instruction string  `json:"instruction"`
	Cached      bool    `json:"cached"`
	Seconds     float64 `json:"seconds"`
}
