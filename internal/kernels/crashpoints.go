package kernels

import "github.com/bangerdev/banger/internal/crashpoint"

// The catalog's crash points (package crashpoint).
var (
	cpUploadReceived = crashpoint.New("kernels/upload/received", crashpoint.KernelUpload)
	cpRecorded       = crashpoint.New("kernels/recorded", crashpoint.KernelImport)
)
