package networks

import "github.com/bangerdev/banger/internal/crashpoint"

// Where a daemon dies with a network recorded but not made
// (cpRecorded), or made but not yet recorded as done; and with its host
// objects removed but its record kept (cpDown). Either way the next
// daemon's Reconcile brings the recorded network up whole, and `network
// rm` removes it (package crashpoint).
var (
	cpRecorded = crashpoint.New("networks/create/recorded", crashpoint.NetworkCreate)
	cpMade     = crashpoint.New("networks/create/made", crashpoint.NetworkCreate)
	cpDown     = crashpoint.New("networks/remove/down", crashpoint.NetworkRemove)
)
