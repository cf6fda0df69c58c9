package api

// The request types that travel in the URL query (see encodeQuery). Their
// tags are the parameter names the daemon reads.

// ListVMsQuery is ListVMs's request.
type ListVMsQuery struct {
	// All lists every VM, not only running ones.
	All bool `query:"all"`
	// Labels keeps the VMs that have every one of these labels: KEY (the
	// label is set, to any value) or KEY=VALUE.
	Labels []string `query:"label"`
}

// StopVMQuery is StopVM's (and RestartVM's) request.
type StopVMQuery struct {
	// Timeout is how many seconds the main process gets between its stop
	// signal and SIGKILL; nil means the config's vm.stop_timeout, 0 sends
	// SIGKILL at once. Either way the guest then syncs and powers off.
	Timeout *int `query:"timeout"`
	// Signal is the first signal the main process gets, a name ("TERM",
	// "SIGINT") or number; empty means the image's STOPSIGNAL, else TERM.
	Signal string `query:"signal"`
}

// KillVMQuery is KillVM's request.
type KillVMQuery struct {
	// Signal is a name ("HUP", "SIGTERM") or number; empty means KILL.
	Signal string `query:"signal"`
}

// RemoveVMQuery is RemoveVM's request.
type RemoveVMQuery struct {
	// Force kills a running VM first; without it a running VM is refused.
	Force bool `query:"force"`
	// MissingOK makes removing a VM that does not exist a success (a
	// retried delete, a runtime cleaning up after itself); a ref that
	// matches several VMs is still an error.
	MissingOK bool `query:"missing_ok"`
}

// VMLogsQuery is VMLogs's request.
type VMLogsQuery struct {
	// Follow keeps the stream open for new output until the main process
	// ends (the console: until the VM stops).
	Follow bool `query:"follow"`
	// Tail starts at the last Tail lines; nil means the whole log.
	Tail *int `query:"tail"`
	// Console streams the serial console instead of the main process's
	// output.
	Console bool `query:"console"`
	// Since and Until bound the entries by time (RFC 3339, nanoseconds);
	// empty is no bound. Timestamps prefixes each line with its time.
	Since      string `query:"since"`
	Until      string `query:"until"`
	Timestamps bool   `query:"timestamps"`
}

// AttachVMQuery is AttachVM's request.
type AttachVMQuery struct {
	// Logs sends the output of the main process's current run so far
	// before the live output.
	Logs bool `query:"logs"`
	// Stdin forwards the client's stdin frames to the main process.
	Stdin bool `query:"stdin"`
	// Next waits for the VM's next run when none is attached yet (run
	// attaches before it starts the VM, so it misses nothing).
	Next bool `query:"next"`
}

// EventsQuery is GetEvents's request.
type EventsQuery struct {
	// Since and Until are a sequence number, an RFC 3339 time, or a
	// duration before now ("10m"). since=SEQ sends the events after SEQ;
	// without since the stream starts with the next event (with until:
	// the oldest kept). With until the stream ends there.
	Since string `query:"since"`
	Until string `query:"until"`
	// Filter are KEY=VALUE filters: type, action (or event), vm (an id,
	// id prefix or name), image, volume, label (KEY or KEY=VALUE). One
	// key's values are alternatives; different keys must all match.
	Filter []string `query:"filter"`
}

// GCQuery is GC's request.
type GCQuery struct {
	// DryRun only lists what would be removed.
	DryRun bool `query:"dry_run"`
}

// ImageImportQuery is ImportImage's request; the tarball is the body.
type ImageImportQuery struct {
	// Name is the image's NAME[:TAG] (required).
	Name string `query:"name"`
	// Size is the file system size in bytes; 0 sizes it to the content.
	Size int64 `query:"size"`
	// Source is the client's name for the tarball (its file name, or
	// "stdin"), for messages.
	Source string `query:"source"`
}

// SaveImagesQuery is SaveImages's request.
type SaveImagesQuery struct {
	// Names are the images to save: names, references or id prefixes.
	Names []string `query:"name"`
	// Format is "oci" (an OCI image layout; the default) or "docker"
	// (docker save's: the OCI layout with manifest.json and
	// repositories beside it).
	Format string `query:"format"`
}

// LoadImagesQuery is LoadImages's request; the archive is the body.
type LoadImagesQuery struct {
	// Source is the client's name for the archive (its file name, or
	// "stdin"), for messages.
	Source string `query:"source"`
}

// KernelUploadQuery is UploadKernel's request; the kernel file is the body.
type KernelUploadQuery struct {
	// Name is the catalog name; empty means the kernel release.
	Name string `query:"name"`
	// Default makes it the default kernel.
	Default bool `query:"default"`
	// Source is the client's name for the file, for messages and the
	// record's source.
	Source string `query:"source"`
}
