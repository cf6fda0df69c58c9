package hostnet

import "github.com/bangerdev/banger/internal/crashpoint"

// cpTapCreated is where a daemon dies with a VM's tap on the bridge and
// its published ports' rules not yet added (package crashpoint).
var cpTapCreated = crashpoint.New("hostnet/tap/created", crashpoint.Run)
