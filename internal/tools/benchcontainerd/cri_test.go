package main

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestContainerStates: `crictl ps -o json` (as crictl v1.37 prints it,
// camelCase fields and the state by name) parses to each container's id
// and state; no containers is an empty map, and output that is not JSON
// is an error naming the command.
func TestContainerStates(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      map[string]string
		wantErr   bool
	}{
		{"two", `{"containers":[
  {"id":"aa11","podSandboxId":"p1","metadata":{"name":"tp-1","attempt":0},"state":"CONTAINER_RUNNING","createdAt":"1"},
  {"id":"bb22","podSandboxId":"p2","metadata":{"name":"tp-2","attempt":0},"state":"CONTAINER_CREATED","createdAt":"2"}]}`,
			map[string]string{"aa11": "CONTAINER_RUNNING", "bb22": "CONTAINER_CREATED"}, false},
		{"none", `{"containers":[]}`, map[string]string{}, false},
		{"not json", "CONTAINER  IMAGE  CREATED", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerStates(tc.out)
			if (err != nil) != tc.wantErr || !maps.Equal(got, tc.want) {
				t.Fatalf("containerStates: %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestPodConfigs: the pod is host-network (namespace mode NODE, 2) or,
// on the CNI network, has no namespace option (POD, CNI's), with the
// name as its uid, in the bench's namespace, logging where asked; its
// container runs sleep 300 of the image.
func TestPodConfigs(t *testing.T) {
	var pod struct {
		Metadata     struct{ Name, Namespace, UID string }
		LogDirectory string `json:"log_directory"`
		Linux        struct {
			SecurityContext struct {
				NamespaceOptions struct{ Network int } `json:"namespace_options"`
			} `json:"security_context"`
		}
	}
	for _, hostNet := range []bool{true, false} {
		pod.Linux.SecurityContext.NamespaceOptions.Network = -1
		if err := json.Unmarshal(podConfig("tp-1", "/tmp/x/logs/tp-1", hostNet), &pod); err != nil {
			t.Fatal(err)
		}
		// NODE (2) on the host's network; else unset, POD (0): CNI's.
		want := map[bool]int{true: 2, false: -1}[hostNet]
		if pod.Metadata.Name != "tp-1" || pod.Metadata.UID != "tp-1" || pod.Metadata.Namespace != "bench" ||
			pod.LogDirectory != "/tmp/x/logs/tp-1" || pod.Linux.SecurityContext.NamespaceOptions.Network != want {
			t.Errorf("pod config (host network %v): %+v", hostNet, pod)
		}
	}
	var ctr struct {
		Metadata struct{ Name string }
		Image    struct{ Image string }
		Command  []string
		LogPath  string `json:"log_path"`
	}
	if err := json.Unmarshal(containerConfig("tp-1", "127.0.0.1:5000/bench/busybox:1"), &ctr); err != nil {
		t.Fatal(err)
	}
	if ctr.Metadata.Name != "tp-1" || ctr.Image.Image != "127.0.0.1:5000/bench/busybox:1" ||
		!slices.Equal(ctr.Command, []string{"sleep", "300"}) || ctr.LogPath != "tp-1.log" {
		t.Errorf("container config: %+v", ctr)
	}
}
