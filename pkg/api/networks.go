package api

import "time"

// DefaultNetwork is the name ListNetworks gives banger's own bridge, as
// docker names its default network.
const DefaultNetwork = "bridge"

// CreateNetworkRequest asks for POST /v1/networks.
type CreateNetworkRequest struct {
	Name string `json:"name"`
	// Subnet is an IPv4 network (/8 to /29); empty picks a free /24.
	Subnet string            `json:"subnet,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Network is a network VMs attach to: the default one ("bridge") or a
// user-defined one.
type Network struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Subnet  string            `json:"subnet"`
	Gateway string            `json:"gateway"`
	Bridge  string            `json:"bridge"`
	Table   string            `json:"nft_table"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created,omitzero"`
	// Default is true for banger's own network, which is not removed.
	Default bool `json:"default,omitempty"`
	// VMs are the names of the VMs whose spec puts them on the network
	// (answered by GetNetwork for user-defined networks).
	VMs []string `json:"vms,omitempty"`
}

// ConnectNetworkRequest names the VM for POST
// /v1/networks/{name}/connect and /disconnect.
type ConnectNetworkRequest struct {
	VM string `json:"vm"`
	// Aliases are names the VM answers to on the network (connect only).
	Aliases []string `json:"aliases,omitempty"`
}
