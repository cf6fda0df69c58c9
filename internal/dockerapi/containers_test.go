package dockerapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
)

// TestLifecycleCalls: each endpoint calls the VM service's operation
// once with the request's options, and answers Docker's statuses for a
// container already in the state asked (304) or in the wrong one (409).
func TestLifecycleCalls(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", Name: "c", State: vms.Created})
	s, _ := newTestServer(f, t.TempDir())
	long := containerID("aaaaaaaaaaaa")
	steps := []struct {
		method, path string
		code         int
		call, msg    string
	}{
		{"POST", "/v1.41/containers/c/start", 204, "start aaaaaaaaaaaa", ""},
		{"POST", "/v1.41/containers/c/start", 304, "", ""},
		{"DELETE", "/v1.41/containers/c", 409, "", "You cannot remove a running container " + long},
		{"POST", "/v1.41/containers/" + long[:20] + "/stop?t=3&signal=SIGINT", 204, "stop aaaaaaaaaaaa SIGINT 3s", ""},
		{"POST", "/v1.41/containers/c/stop", 304, "", ""},
		{"POST", "/v1.41/containers/c/kill", 409, "", "Container " + long + " is not running"},
		{"POST", "/v1.41/containers/c/restart?t=1", 204, "restart aaaaaaaaaaaa 1s", ""},
		{"POST", "/v1.41/containers/c/kill?signal=HUP", 204, "kill aaaaaaaaaaaa HUP", ""},
		{"POST", "/v1.41/containers/c/restart", 204, "restart aaaaaaaaaaaa 10s", ""},
		{"POST", "/v1.41/containers/c/kill", 204, "kill aaaaaaaaaaaa KILL", ""},
		{"POST", "/v1.41/containers/c/stop?t=x", 400, "", "invalid value for t"},
		{"DELETE", "/v1.41/containers/c?force=1&v=1", 204, "rm aaaaaaaaaaaa force=true", ""},
		{"DELETE", "/v1.41/containers/c", 404, "", "No such container: c"},
	}
	for i, st := range steps {
		n := len(f.calls)
		rec := do(s, st.method, st.path, "")
		if rec.Code != st.code {
			t.Fatalf("step %d %s %s: %d %s; want %d", i, st.method, st.path, rec.Code, rec.Body, st.code)
		}
		var got string
		if len(f.calls) > n {
			got = f.calls[len(f.calls)-1]
		}
		if got != st.call {
			t.Errorf("step %d %s %s: called %q; want %q", i, st.method, st.path, got, st.call)
		}
		if st.msg != "" && !strings.Contains(message(t, rec), st.msg) {
			t.Errorf("step %d: message %q; want %q", i, rec.Body, st.msg)
		}
	}
}

// TestInspect: the state, the config the VM runs with (the image's
// where the spec says nothing), the host config as created, the address
// (also at the top of NetworkSettings for clients before 1.44) and the
// mounts.
func TestInspect(t *testing.T) {
	code := 137
	vm := vms.VM{ID: "aaaaaaaaaaaa", Name: "web", State: vms.Running, ImageID: "img1", ExitCode: &code,
		Created: time.Unix(1700000000, 0), Started: time.Unix(1700000100, 0),
		Runtime: vms.Summary{PID: 4242, IP: "10.213.0.7", MAC: "02:00:00:00:00:07"},
		Spec: vms.Spec{Image: "alpine", Cmd: []string{"nginx"}, Env: []string{"A=1"}, CPUs: 2, MemoryMiB: 256, AutoRemove: true,
			Ports:  []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}},
			Mounts: []volumes.Mount{{Type: volumes.TypeVolume, Source: "data", Target: "/data", ReadOnly: true}}}}
	s, _ := newTestServer(newFakeVMs(vm), t.TempDir())
	s.opts.Images = fakeImages{list: []images.Image{{ID: "img1", Name: "docker.io/library/alpine:latest", Config: imagepull.Config{Entrypoint: []string{"/entry"}, WorkingDir: "/srv", User: "www"}}}}
	var got map[string]any
	if err := json.Unmarshal(do(s, "GET", "/v1.41/containers/web/json", "").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	get := func(path string) any {
		var v any = got
		for _, k := range strings.Split(path, ".") {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		return v
	}
	for path, want := range map[string]any{
		"Id": containerID(vm.ID), "Name": "/web", "Path": "/entry", "State.Status": "running", "State.Running": true,
		"State.Pid": 4242.0, "State.StartedAt": "2023-11-14T22:15:00Z", "Config.WorkingDir": "/srv", "Config.User": "www",
		"Config.Image": "alpine", "HostConfig.AutoRemove": true, "HostConfig.Memory": 268435456.0, "HostConfig.NanoCpus": 2e9,
		"NetworkSettings.IPAddress": "10.213.0.7", "NetworkSettings.MacAddress": "02:00:00:00:00:07",
		"NetworkSettings.Networks.bridge.IPAddress": "10.213.0.7",
	} {
		if v := get(path); v != want {
			t.Errorf("%s = %#v; want %#v", path, v, want)
		}
	}
	if args, _ := json.Marshal(get("Args")); string(args) != `["nginx"]` {
		t.Errorf("Args = %s", args)
	}
	if m, _ := json.Marshal(get("Mounts")); !strings.Contains(string(m), `"Type":"volume"`) || !strings.Contains(string(m), `"Name":"data"`) || !strings.Contains(string(m), `"Mode":"ro"`) || !strings.Contains(string(m), `"Destination":"/data"`) || !strings.Contains(string(m), `"RW":false`) {
		t.Errorf("Mounts = %s", m)
	}
	if p, _ := json.Marshal(get("NetworkSettings.Ports")); string(p) != `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"8080"}]}` {
		t.Errorf("Ports = %s", p)
	}
	// From 1.44 the address is only under Networks, as Docker's.
	var current struct{ NetworkSettings map[string]json.RawMessage }
	rec := do(s, "GET", "/v1.44/containers/web/json", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &current); err != nil || current.NetworkSettings["Networks"] == nil {
		t.Fatalf("inspect at 1.44: %d %s (%v); want NetworkSettings with Networks", rec.Code, rec.Body, err)
	}
	if _, ok := current.NetworkSettings["IPAddress"]; ok {
		t.Errorf("1.44's NetworkSettings has the legacy IPAddress")
	}
}
