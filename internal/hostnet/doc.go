// Package hostnet owns banger's host networking: one bridge with the
// gateway address, a tap per VM, IP leases in the daemon's store, and
// banger's own nftables table (NAT out, published ports, isolation).
//
// Use: New over the config and the store; Setup once when the daemon
// starts (idempotent; keeps running VMs' rules); Lease when a VM is
// created (the address is kept until Release); Attach before its VMM
// starts and Detach after it stops; Release when it is removed; Inventory
// for leak checks, `banger gc` and `banger doctor`; Teardown to remove it
// all; Inventory.Orphans and Remove for `banger gc`. A VM with
// `--network none` (ModeNone) calls none of them, and neither does a VM
// attached to a network namespace others made (`--network netns:`):
// Namespaces makes its tap in that namespace and joins it to the
// namespace's interface with tc redirects (namespaces.go), with no
// lease, rule or bridge of banger's.
//
// Ownership: every tap is "bg-" + the VM id's first 12 characters, every
// per-VM nft rule carries the comment "banger:<vm id>", and nothing
// outside the table named by network.nft_table is ever written, so Detach
// needs only the VM id, and Inventory finds leaks without any record.
//
// Privileged work is data: basePlan and portRules build the ruleset as
// nftplan values, setupOps and attachOps the link changes as linkOp
// values; both are asserted exactly in unit tests. Two small edges run
// them (netlink via vishvananda/netlink, nf_tables via google/nftables).
//
// Choices worth knowing:
//
//   - VM isolation is two layers: taps are isolated bridge ports (Linux
//     port isolation), so the bridge never switches frames between two
//     guests, and the forward chain drops what a guest routes to another
//     through the gateway. Bridged traffic never reaches the inet
//     forward hook, so the nft rule alone could not isolate.
//   - Published ports from the host itself work in the kernel, not in a
//     userspace proxy: the output chain DNATs connections to any local
//     address (127.0.0.1 included), route_localnet on banger's bridge
//     (only there) lets a 127.0.0.1-sourced packet leave through it, and
//     postrouting masquerades it to the gateway address the guest can
//     answer. Compared with a proxy (Docker's docker-proxy), ports keep
//     working while the daemon restarts (VMs outlive it), UDP needs no
//     session table, nothing copies bytes in the daemon, and the path is
//     the same rules tested as values. route_localnet's known hole
//     (CVE-2020-8558: neighbours reaching 127.0.0.1 services) is closed
//     by the input chain, which drops everything new from the bridge, and
//     by prerouting, which never DNATs 127.0.0.0/8 arriving from outside.
//     The cost, shared with pure DNAT: a host program that later binds
//     the same port is shadowed; Attach refuses ports in use at publish
//     time.
//   - Published ports serve the host and the outside. A guest reaching
//     another guest's published port through the gateway (hairpin) is not
//     supported: with isolation the forward chain drops it, without it the
//     reply would bypass the gateway.
//   - Masquerade applies to guest traffic leaving through any interface
//     but the bridge (as Docker's does), so it follows the host's routing
//     (the default route, a VPN) instead of naming one interface.
//   - Guests see the host's own services not at all, except pings to the
//     gateway, replies to connections the host opened (the agent's TCP
//     channel is host→guest) and, only when banger forwards DNS, port 53
//     on the gateway.
//   - A tap sends only its VM's own frames: ARP and IPv4 from the VM's MAC
//     and IP (antispoofRules, in banger's table in the bridge family,
//     keyed to the tap), checked before the bridge learns a source. A
//     guest that takes another VM's address neither hijacks the host's
//     traffic to it nor gets a packet out.
//   - Daemons side by side each own their bridge and table (own.go): a
//     marked bridge or table of another daemon is refused, and a --root
//     daemon derives a network of its own.
//   - DNS: guests get the host's resolvers when they are reachable
//     through NAT; when the host uses a loopback stub (systemd-resolved's
//     127.0.0.53) or its own address, a tiny UDP/TCP relay on the gateway
//     forwards to it, parsing nothing.
//   - User-defined networks (usernet.go): ForUser derives a Network with
//     its own bridge, table and subnet; each table's forward rule drops
//     what is routed into its bridge from elsewhere, so networks are
//     isolated from each other, and its relay answers the network's own
//     names (dnsname.go) before forwarding.
//   - The bridge's MAC is pinned (derived from its name): Linux would
//     otherwise give it the lowest port MAC, changing the gateway's MAC
//     under running guests whenever a VM starts or stops.
package hostnet
