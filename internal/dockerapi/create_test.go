package dockerapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// create posts a create request body (JSON) as peer uid.
func create(s *Server, body string, uid int, name string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/v1.41/containers/create?name="+name, strings.NewReader(body))
	req = req.WithContext(api.WithPeer(req.Context(), api.Peer{UID: uid}))
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// TestCreateMapsOptions: each create option lands in the VM spec the
// way `banger run` would have it.
func TestCreateMapsOptions(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		uid        int
		want       func(vms.Spec) bool
	}{
		{"command, env, workdir, user, hostname, labels", `{"Image":"alpine","Cmd":["sh","-c","x"],"Env":["A=1"],"WorkingDir":"/w","User":"1:2","Hostname":"h1","Labels":{"k":"v"},"AttachStdout":true}`, 1000,
			func(s vms.Spec) bool {
				return s.Image == "alpine" && slices.Equal(s.Cmd, []string{"sh", "-c", "x"}) && slices.Equal(s.Env, []string{"A=1"}) &&
					s.WorkingDir == "/w" && s.User == "1:2" && s.Hostname == "h1" && s.Labels["k"] == "v" && !s.Detach
			}},
		{"entrypoint", `{"Image":"alpine","Entrypoint":["/bin/x"],"Cmd":["a"]}`, 0,
			func(s vms.Spec) bool {
				return slices.Equal(s.Entrypoint, []string{"/bin/x"}) && slices.Equal(s.Cmd, []string{"a"})
			}},
		{"entrypoint reset", `{"Image":"alpine","Entrypoint":[""],"Cmd":["echo","hi"]}`, 0,
			func(s vms.Spec) bool {
				return slices.Equal(s.Entrypoint, []string{"echo"}) && slices.Equal(s.Cmd, []string{"hi"})
			}},
		{"tty and stdin", `{"Image":"alpine","Cmd":["sh"],"Tty":true,"OpenStdin":true,"AttachStdin":true}`, 0,
			func(s vms.Spec) bool { return s.TTY && s.Interactive && !s.Detach }},
		{"detached (no stream attached)", `{"Image":"alpine","Cmd":["sh"]}`, 0,
			func(s vms.Spec) bool { return s.Detach }},
		{"auto-remove, restart, memory, cpus", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"AutoRemove":true,"Memory":134217729,"NanoCpus":2000000000}}`, 0,
			func(s vms.Spec) bool { return s.AutoRemove && s.MemoryMiB == 129 && s.CPUs == 2 }},
		{"restart policy", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}}`, 0,
			func(s vms.Spec) bool { return s.Restart == restart.Policy{Mode: restart.OnFailure, MaxRetries: 3} }},
		{"volumes declared and bound (compose)", `{"Image":"alpine","Cmd":["sh"],"Volumes":{"/data":{},"/t/":{}},"HostConfig":{"Binds":["p_data:/data:rw"],"Tmpfs":{"/t":""}}}`, 0,
			func(s vms.Spec) bool {
				return len(s.Mounts) == 1 && s.Mounts[0].Source == "p_data" && s.Mounts[0].Target == "/data"
			}},
		{"network none", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"NetworkMode":"none"}}`, 0,
			func(s vms.Spec) bool { return s.Network == vms.NetworkNone }},
		{"default network", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"NetworkMode":"default"}}`, 0,
			func(s vms.Spec) bool { return s.Network == vms.NetworkDefault }},
		{"user network with aliases (the CLI's --network --network-alias)", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"NetworkMode":"appnet"},"NetworkingConfig":{"EndpointsConfig":{"appnet":{"Aliases":["www","web"]}}}}`, 0,
			func(s vms.Spec) bool {
				return s.Network == "appnet" && slices.Equal(s.NetworkAliases, []string{"www", "web"})
			}},
		{"user network named by its endpoint alone", `{"Image":"alpine","Cmd":["sh"],"NetworkingConfig":{"EndpointsConfig":{"appnet":{"Aliases":["db"]}}}}`, 0,
			func(s vms.Spec) bool { return s.Network == "appnet" && slices.Equal(s.NetworkAliases, []string{"db"}) }},
		{"bridge with its endpoint", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"NetworkMode":"bridge"},"NetworkingConfig":{"EndpointsConfig":{"bridge":{}}}}`, 0,
			func(s vms.Spec) bool { return s.Network == vms.NetworkDefault && len(s.NetworkAliases) == 0 }},
		{"ports", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"5353"}]}}}`, 0,
			func(s vms.Spec) bool {
				slices.SortFunc(s.Ports, func(a, b hostnet.Port) int { return a.GuestPort - b.GuestPort })
				return slices.Equal(s.Ports, []hostnet.Port{{HostIP: "127.0.0.1", HostPort: 5353, GuestPort: 53, Protocol: "udp"}, {HostPort: 8080, GuestPort: 80, Protocol: "tcp"}})
			}},
		{"random host ports", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"","HostPort":""}],"53/udp":[{"HostIp":"127.0.0.1","HostPort":"0"}]}}}`, 0,
			func(s vms.Spec) bool {
				slices.SortFunc(s.Ports, func(a, b hostnet.Port) int { return a.GuestPort - b.GuestPort })
				return !s.PublishAll && slices.Equal(s.Ports, []hostnet.Port{{HostIP: "127.0.0.1", GuestPort: 53, Protocol: "udp"}, {GuestPort: 80, Protocol: "tcp"}})
			}},
		{"publish all: bound ports kept, --expose ports added, the image's left to the VM service", `{"Image":"alpine","Cmd":["sh"],"ExposedPorts":{"80/tcp":{},"9000/tcp":{},"53/udp":{}},"HostConfig":{"PublishAllPorts":true,"PortBindings":{"80/tcp":[{"HostPort":"8080"}]}}}`, 0,
			func(s vms.Spec) bool {
				return s.PublishAll && slices.Equal(s.Ports, []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}, {GuestPort: 53, Protocol: "udp"}, {GuestPort: 9000, Protocol: "tcp"}})
			}},
		{"named volume and root's bind", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"Binds":["data:/data:ro","/tmp:/srv"],"Mounts":[{"Type":"volume","Source":"v2","Target":"/v2"}]}}`, 0,
			func(s vms.Spec) bool {
				return slices.Equal(s.Mounts, []volumes.Mount{{Type: volumes.TypeVolume, Source: "data", Target: "/data", ReadOnly: true},
					{Type: volumes.TypeBind, Source: "/tmp", Target: "/srv"}, {Type: volumes.TypeVolume, Source: "v2", Target: "/v2"}})
			}},
		{"a named volume for anyone", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"Binds":["data:/data"]}}`, 1000,
			func(s vms.Spec) bool { return len(s.Mounts) == 1 && s.Mounts[0].Type == volumes.TypeVolume }},
		{"tmpfs and dns", `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"Tmpfs":{"/cache":"size=8m"},"Dns":["9.9.9.9"],"DnsSearch":["lan"]}}`, 0,
			func(s vms.Spec) bool {
				return slices.Equal(s.Tmpfs, []string{"/cache:size=8m"}) && slices.Equal(s.DNS.Servers, []string{"9.9.9.9"}) && slices.Equal(s.DNS.Search, []string{"lan"})
			}},
		{"accepted without effect in a VM", `{"Image":"alpine","Cmd":["sh"],"ExposedPorts":{"80/tcp":{}},"HostConfig":{"CapAdd":["NET_ADMIN"],"IpcMode":"private","PidMode":"","UTSMode":"","UsernsMode":"host","LogConfig":{"Type":"json-file"},"Init":true,"ConsoleSize":[24,80]}}`, 0,
			func(s vms.Spec) bool { return s.Image == "alpine" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVMs()
			s, _ := newTestServer(f, t.TempDir())
			rec := create(s, tc.body, tc.uid, "")
			if rec.Code != http.StatusCreated || len(f.created) != 1 {
				t.Fatalf("create: %d %s", rec.Code, rec.Body)
			}
			if !tc.want(f.created[0]) {
				t.Errorf("spec %+v", f.created[0])
			}
			var resp container.CreateResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.ID) != 64 || !strings.HasPrefix(resp.ID, "000000abc000") || resp.Warnings == nil {
				t.Errorf("answer %s (%v); want a 64-digit id from the VM's and a warnings list", rec.Body, err)
			}
		})
	}
}

// TestCreateRefusals: every option a VM cannot honour is refused with a
// 400 naming it, and no VM is made.
func TestCreateRefusals(t *testing.T) {
	cases := []struct{ body, option string }{
		{`"Privileged":true`, "--privileged"},
		{`"NetworkMode":"host"`, "--network host"},
		{`"NetworkMode":"container:abc"`, "--network container:"},
		{`"PidMode":"host"`, "--pid host"},
		{`"PidMode":"container:abc"`, "--pid container:"},
		{`"IpcMode":"host"`, "--ipc host"},
		{`"IpcMode":"container:abc"`, "--ipc container:"},
		{`"UTSMode":"host"`, "--uts host"},
		{`"Devices":[{"PathOnHost":"/dev/kvm","PathInContainer":"/dev/kvm","CgroupPermissions":"rwm"}]`, "--device"},
		{`"DeviceRequests":[{"Count":-1}]`, "--gpus"},
		{`"DeviceCgroupRules":["c 1:3 mr"]`, "--device-cgroup-rule"},
		{`"CgroupParent":"/x"`, "--cgroup-parent"},
		{`"CapDrop":["ALL"]`, "--cap-drop"},
		{`"SecurityOpt":["no-new-privileges"]`, "--security-opt"},
		{`"VolumesFrom":["other"]`, "--volumes-from"},
		{`"Links":["db:db"]`, "--link"},
		{`"ReadonlyRootfs":true`, "--read-only"},
		{`"Sysctls":{"net.ipv4.ip_forward":"1"}`, "--sysctl"},
		{`"Ulimits":[{"Name":"nofile","Soft":1,"Hard":1}]`, "--ulimit"},
		{`"PidsLimit":10`, "--pids-limit"},
		{`"CpuShares":512`, "--cpu-shares"},
		{`"Memory":67108864,"MemorySwap":134217728`, "--memory-swap"},
		{`"BlkioWeight":100`, "--blkio-weight"},
		{`"OomScoreAdj":100`, "--oom-kill-disable, --oom-score-adj"},
		{`"ShmSize":1024`, "--shm-size"},
		{`"GroupAdd":["audio"]`, "--group-add"},
		{`"ExtraHosts":["a:1.2.3.4"]`, "--add-host"},
		{`"StorageOpt":{"size":"1G"}`, "--storage-opt"},
		{`"Runtime":"runc"`, "--runtime"},
		{`"LogConfig":{"Type":"syslog"}`, "--log-driver"},
		{`"MaskedPaths":["/proc/kcore"]`, "MaskedPaths"},
		{`"PortBindings":{"80/tcp":[{"HostPort":"8000-8010"}]}`, "-p 8000-8010:80/tcp (host port"},
		{`"PortBindings":{"80/sctp":[{"HostPort":"80"}]}`, "-p sctp"},
		{`"Mounts":[{"Type":"tmpfs","Target":"/t"}]`, "--mount type=tmpfs"},
	}
	configCases := []struct{ body, option string }{
		{`"Volumes":{"/data":{}}`, "-v /PATH without a source"},
		{`"Volumes":{"/data":{},"/other":{}},"HostConfig":{"Binds":["v:/data"]}`, "-v /PATH without a source"},
		{`"Healthcheck":{"Test":["CMD","true"]}`, "--health-cmd"},
		{`"StopSignal":"SIGINT"`, "--stop-signal"},
		{`"StopTimeout":3`, "--stop-timeout"},
		{`"Domainname":"example.com"`, "--domainname"},
	}
	seen := map[string]bool{}
	check := func(body, option string) {
		f := newFakeVMs()
		s, _ := newTestServer(f, t.TempDir())
		rec := create(s, body, 1000, "")
		if rec.Code != http.StatusBadRequest || len(f.created) != 0 {
			t.Errorf("%s: %d %s, %d VMs made; want 400 and none", body, rec.Code, rec.Body, len(f.created))
			return
		}
		if m := message(t, rec); !strings.HasPrefix(m, option) || !strings.Contains(m, "is not supported by banger: ") {
			t.Errorf("%s: message %q; want it to name %q and why", body, m, option)
		}
		seen[strings.SplitN(option, " (", 2)[0]] = true
	}
	for _, tc := range cases {
		check(`{"Image":"alpine","Cmd":["sh"],"HostConfig":{`+tc.body+`}}`, tc.option)
	}
	for _, tc := range configCases {
		check(`{"Image":"alpine","Cmd":["sh"],`+tc.body+`}`, tc.option)
	}
	// Every row of the table is exercised.
	for _, o := range refusedOptions() {
		found := false
		for k := range seen {
			if strings.HasPrefix(o, k) {
				found = true
			}
		}
		if !found {
			t.Errorf("refusal %q has no case here", o)
		}
	}
}

// TestCreateAnswers: a missing image is Docker's 404 "No such image"
// (which makes the docker CLI pull), a taken name Docker's 409, an image
// with nothing to run and --entrypoint "" without a command a 400, a
// fractional --cpus a warning.
func TestCreateAnswers(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "0123456789ab", Name: "web"})
	s, _ := newTestServer(f, t.TempDir())
	f.createErr = nil
	rec := create(s, `{"Image":"nope:1","Cmd":["sh"]}`, 0, "")
	if rec.Code != 404 || message(t, rec) != "No such image: nope:1" {
		t.Errorf("missing image: %d %s", rec.Code, rec.Body)
	}
	rec = create(s, `{"Image":"docker.io/library/alpine:latest"}`, 0, "")
	if rec.Code != 400 || !strings.Contains(message(t, rec), "No command specified") {
		t.Errorf("nothing to run: %d %s", rec.Code, rec.Body)
	}
	rec = create(s, `{"Image":"docker.io/library/alpine:latest","Entrypoint":[""]}`, 0, "")
	if rec.Code != 400 || !strings.Contains(message(t, rec), `--entrypoint "" resets the image's entrypoint and cmd; give a command`) || len(f.created) != 0 {
		t.Errorf("--entrypoint \"\" without a command: %d %s", rec.Code, rec.Body)
	}
	f.createErr = errExists
	rec = create(s, `{"Image":"docker.io/library/alpine:latest","Cmd":["sh"]}`, 0, "/web")
	if rec.Code != 409 || !strings.Contains(message(t, rec), `The container name "/web" is already in use by container "0123456789ab`) {
		t.Errorf("taken name: %d %s", rec.Code, rec.Body)
	}
	f.createErr = nil
	rec = create(s, `{"Image":"docker.io/library/alpine:latest","Cmd":["sh"],"HostConfig":{"NanoCpus":1500000000}}`, 0, "api")
	var resp container.CreateResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &resp)
	if rec.Code != 201 || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "whole vCPUs; it gets 2") || f.calls[len(f.calls)-1] != "create api" {
		t.Errorf("fractional cpus: %d %s %v", rec.Code, rec.Body, f.calls)
	}
}

// TestCreateBindsAsTheCaller: a host path is shared only when the
// caller (SO_PEERCRED) could use it themselves — the rule banger's own
// socket applies (vms.Authorize) — so a member of the socket group gets
// Docker's 403 for /etc, root may bind it, and neither a refusal nor an
// unknown caller makes a VM.
func TestCreateBindsAsTheCaller(t *testing.T) {
	testutil.RequireRoot(t) // the check switches a thread to the caller's ids
	for _, tc := range []struct {
		name string
		uid  int
		bind string
		code int
	}{
		{"root binds /etc", 0, "/etc:/x:ro", http.StatusCreated},
		{"a member may not read /etc through a VM", 65534, "/etc:/x:ro", http.StatusForbidden},
		{"nor write /tmp's other files", 65534, "/tmp:/x", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVMs()
			s, _ := newTestServer(f, t.TempDir())
			rec := create(s, `{"Image":"alpine","Cmd":["sh"],"HostConfig":{"Binds":["`+tc.bind+`"]}}`, tc.uid, "")
			if rec.Code != tc.code {
				t.Fatalf("%s as uid %d: %d %s; want %d", tc.bind, tc.uid, rec.Code, rec.Body, tc.code)
			}
			if tc.code != http.StatusCreated {
				if len(f.created) != 0 {
					t.Errorf("a refused create made %d VMs", len(f.created))
				}
				if m := message(t, rec); !strings.Contains(m, "uid 65534") || !strings.Contains(m, strings.SplitN(tc.bind, ":", 2)[0]) {
					t.Errorf("message %q; want the caller and the path", m)
				}
				return
			}
			if len(f.created) != 1 || f.created[0].Caller == nil {
				t.Errorf("created %+v; want one VM with its caller recorded", f.created)
			}
		})
	}
}

// TestCreateNetworkRefusals: a VM has one network interface and leases
// its address: several networks, an endpoint beside another network
// mode, a fixed address and legacy links are refused naming the option.
func TestCreateNetworkRefusals(t *testing.T) {
	for body, option := range map[string]string{
		`"HostConfig":{"NetworkMode":"a"},"NetworkingConfig":{"EndpointsConfig":{"a":{},"b":{}}}`:                                 "several --network",
		`"HostConfig":{"NetworkMode":"a"},"NetworkingConfig":{"EndpointsConfig":{"b":{}}}`:                                        "--network b",
		`"HostConfig":{"NetworkMode":"a"},"NetworkingConfig":{"EndpointsConfig":{"a":{"IPAMConfig":{"IPv4Address":"10.1.1.1"}}}}`: "--ip, --ip6",
		`"HostConfig":{"NetworkMode":"a"},"NetworkingConfig":{"EndpointsConfig":{"a":{"Links":["db:db"]}}}`:                       "--link",
	} {
		f := newFakeVMs()
		s, _ := newTestServer(f, t.TempDir())
		rec := create(s, `{"Image":"alpine","Cmd":["sh"],`+body+`}`, 0, "")
		if rec.Code != http.StatusBadRequest || len(f.created) != 0 || !strings.HasPrefix(message(t, rec), option) {
			t.Errorf("%s: %d %s; want a 400 naming %s", body, rec.Code, rec.Body, option)
		}
	}
}
