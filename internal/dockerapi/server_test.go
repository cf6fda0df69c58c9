package dockerapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/system"

	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// do serves one request and returns the recorder.
func do(s *Server, method, path, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec
}

// message is the {"message": ...} of a Docker error answer.
func message(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Message == "" {
		t.Fatalf("answer %d %q is not a Docker error body: %v", rec.Code, rec.Body, err)
	}
	return e.Message
}

// TestRoutingAndVersions: the /vMAJOR.MINOR prefix is optional and
// stripped; versions outside 1.41..1.57 are refused in Docker's words;
// unknown paths are Docker's 404; every answer carries API-Version.
func TestRoutingAndVersions(t *testing.T) {
	s, _ := newTestServer(newFakeVMs(), t.TempDir())
	for _, tc := range []struct {
		method, path string
		code         int
		body, msg    string
	}{
		{"GET", "/_ping", 200, "OK", ""},
		{"HEAD", "/_ping", 200, "", ""},
		{"GET", "/v1.41/_ping", 200, "OK", ""},
		{"GET", "/v1.57/_ping", 200, "OK", ""},
		{"GET", "/v1.40/_ping", 400, "", "client version 1.40 is too old. Minimum supported API version is 1.41"},
		{"GET", "/v1.58/version", 400, "", "client version 1.58 is too new. Maximum supported API version is 1.57"},
		{"GET", "/v2.0/info", 400, "", "too new"},
		{"GET", "/v1.41/nope", 404, "", "page not found"},
		{"POST", "/_ping", 404, "", "page not found"},
		{"GET", "/vx.1/_ping", 404, "", "page not found"},
	} {
		rec := do(s, tc.method, tc.path, "")
		if rec.Code != tc.code || rec.Header().Get("API-Version") != APIVersion {
			t.Errorf("%s %s: %d, API-Version %q; want %d, %s", tc.method, tc.path, rec.Code, rec.Header().Get("API-Version"), tc.code, APIVersion)
			continue
		}
		if tc.msg != "" {
			if m := message(t, rec); !strings.Contains(m, tc.msg) {
				t.Errorf("%s %s: message %q, want %q", tc.method, tc.path, m, tc.msg)
			}
		} else if rec.Body.String() != tc.body {
			t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, rec.Body, tc.body)
		}
	}
}

// TestVersionAndInfo: /version says the served range; /info counts the
// VMs by state and the images from the services.
func TestVersionAndInfo(t *testing.T) {
	f := newFakeVMs(vms.VM{ID: "aaaaaaaaaaaa", State: vms.Running}, vms.VM{ID: "bbbbbbbbbbbb", State: vms.Paused},
		vms.VM{ID: "cccccccccccc", State: vms.Exited}, vms.VM{ID: "dddddddddddd", State: vms.Created})
	s, _ := newTestServer(f, t.TempDir())
	var v system.VersionResponse
	if err := json.Unmarshal(do(s, "GET", "/v1.41/version", "").Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if v.APIVersion != APIVersion || v.MinAPIVersion != MinAPIVersion || v.Os != "linux" || v.Version != "test" {
		t.Errorf("version = %+v", v)
	}
	var info system.Info
	if err := json.Unmarshal(do(s, "GET", "/info", "").Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.Containers != 4 || info.ContainersRunning != 1 || info.ContainersPaused != 1 || info.ContainersStopped != 2 ||
		info.Images != 1 || info.NCPU < 1 || info.MemTotal <= 0 || info.DockerRootDir != "/var/lib/banger" || info.OSType != "linux" {
		t.Errorf("info = %+v", info)
	}
}

// TestErrorMapping: banger's error categories answer Docker's statuses
// with the message alone.
func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{fmt.Errorf("vm x: %w", errdefs.ErrNotFound), 404},
		{fmt.Errorf("vm name x: %w", errdefs.ErrExists), 409},
		{fmt.Errorf("vm x: %w: running", errdefs.ErrConflict), 409},
		{fmt.Errorf("%w: bad", errdefs.ErrInvalid), 400},
		{refuse("--privileged (HostConfig.Privileged)", "why"), 400},
		{badParam("tail %q: want a number", "x"), 400},
		{fmt.Errorf("disk on fire"), 500},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, tc.err)
		if rec.Code != tc.code || message(t, rec) != tc.err.Error() || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%v: %d %q; want %d with the message", tc.err, rec.Code, rec.Body, tc.code)
		}
	}
}

// TestContainerIDs: a container id is 64 hex digits starting with the
// VM id; the whole id, any prefix of it, the VM id, a name (with
// Docker's "/") find the VM; a foreign id and an unknown name are
// Docker's "No such container".
func TestContainerIDs(t *testing.T) {
	vm := vms.VM{ID: "0123456789ab", Name: "web"}
	s, _ := newTestServer(newFakeVMs(vm, vms.VM{ID: "fedcba987654", Name: "db"}), t.TempDir())
	id := containerID(vm.ID)
	if len(id) != 64 || !isHex(id) || !strings.HasPrefix(id, vm.ID) || containerID(vm.ID) != id {
		t.Fatalf("containerID = %q", id)
	}
	for _, ref := range []string{id, id[:20], id[:13], vm.ID, vm.ID[:3], "web", "/web"} {
		if got, err := s.vm(ref); err != nil || got.ID != vm.ID {
			t.Errorf("vm(%q) = %q, %v; want %s", ref, got.ID, err, vm.ID)
		}
	}
	// Docker takes any unique prefix, also shorter than the VM service's 3.
	if got, err := s.vm("0"); err != nil || got.ID != vm.ID {
		t.Errorf("vm(\"0\") = %q, %v; want %s", got.ID, err, vm.ID)
	}
	s2, _ := newTestServer(newFakeVMs(vm, vms.VM{ID: "0fffffffffff", Name: "other"}), t.TempDir())
	if _, err := s2.vm("0"); err == nil || !strings.Contains(err.Error(), "multiple IDs found with provided prefix: 0") {
		t.Errorf("an ambiguous prefix: %v", err)
	}
	// A name of more than 12 hex digits is a name when no id starts so,
	// as when one does.
	hexName := vms.VM{ID: "aaaaaaaaaaaa", Name: "abcdefabcdefabcd"}
	s3, _ := newTestServer(newFakeVMs(vm, hexName), t.TempDir())
	for _, ref := range []string{hexName.Name, "/" + hexName.Name} {
		if got, err := s3.vm(ref); err != nil || got.ID != hexName.ID {
			t.Errorf("vm(%q) = %q, %v; want %s by its name", ref, got.ID, err, hexName.ID)
		}
	}
	foreign := vm.ID + strings.Repeat("0", 52)
	for _, ref := range []string{foreign, "nope"} {
		_, err := s.vm(ref)
		if err == nil || err.Error() != "No such container: "+ref || errdefs.HTTPStatus(err) != http.StatusNotFound {
			t.Errorf("vm(%q): %v; want No such container (404)", ref, err)
		}
	}
}
