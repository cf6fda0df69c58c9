package fctest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type step struct {
	method, path, body string
	status             int
	fault              string // substring of fault_message
}

func client(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

func do(t *testing.T, c *http.Client, s step) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), s.method, "http://localhost"+s.path, strings.NewReader(s.body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Fault string `json:"fault_message"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Fault
}

// The state rules the swagger states in prose, and the contract's schema
// checks, as request sequences.
func TestServerRules(t *testing.T) {
	dir := ShortDir(t)
	kernel := filepath.Join(dir, "vmlinux")
	disk := filepath.Join(dir, "disk")
	logf := filepath.Join(dir, "log")
	for _, p := range []string{kernel, disk, logf} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(kernel, FakeKernel, 0o644); err != nil {
		t.Fatal(err)
	}
	boot := `{"kernel_image_path":"` + kernel + `"}`
	drive := `{"drive_id":"root","path_on_host":"` + disk + `","is_root_device":true,"is_read_only":false}`
	start := `{"action_type":"InstanceStart"}`
	tests := []struct {
		name  string
		steps []step
	}{
		{"schema: unknown field, missing field, bad enum, bad type, minimum", []step{
			{"PUT", "/boot-source", `{"kernel_image_path":"` + kernel + `","bootargs":"x"}`, 400, `property "bootargs" is unsupported`},
			{"PUT", "/drives/root", `{"drive_id":"root"}`, 400, `"is_root_device" is missing`},
			{"PUT", "/actions", `{"action_type":"Start"}`, 400, "not one of the allowed values"},
			{"PUT", "/machine-config", `{"vcpu_count":"2","mem_size_mib":128}`, 400, "must be an integer"},
			{"PUT", "/machine-config", `{"vcpu_count":33,"mem_size_mib":128}`, 400, "at most 32"},
			{"PUT", "/vsock", `{"guest_cid":2,"uds_path":"/x"}`, 400, "at least 3"},
			{"DELETE", "/drives/root", ``, 400, "invalid request method and/or path"},
			{"PUT", "/nope", `{}`, 400, "invalid request method and/or path"},
			{"PUT", "/boot-source", ``, 400, "request body"},
		}},
		{"files must exist, ids must be valid and agree", []step{
			{"PUT", "/boot-source", `{"kernel_image_path":"/nonexistent"}`, 400, "The kernel file cannot be opened"},
			{"PUT", "/logger", `{"log_path":"/nonexistent/log"}`, 400, "Failed to open target file"},
			{"PUT", "/drives/root", `{"drive_id":"other","path_on_host":"` + disk + `","is_root_device":true,"is_read_only":false}`, 400, "does not match the id from the body"},
			{"PUT", "/drives/ro-ot", `{"drive_id":"ro-ot","path_on_host":"` + disk + `","is_root_device":true,"is_read_only":false}`, 400, "Invalid ID"},
			{"PUT", "/drives/root", drive, 204, ""},
			{"PUT", "/drives/root2", strings.ReplaceAll(drive, `"root"`, `"root2"`), 400, "A root block device already exists"},
			{"PUT", "/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"tap0","guest_mac":"02:00:00:00:00"}`, 400, "Invalid MAC"},
		}},
		{"boot once; pre-boot resources refused after", []step{
			{"PUT", "/actions", start, 400, "without kernel configuration"},
			{"PATCH", "/vm", `{"state":"Paused"}`, 400, "before starting"},
			{"PUT", "/actions", `{"action_type":"SendCtrlAltDel"}`, 400, "before starting"},
			{"PUT", "/logger", `{"log_path":"` + logf + `"}`, 204, ""},
			{"PUT", "/boot-source", boot, 204, ""},
			{"PUT", "/drives/root", drive, 204, ""},
			{"PUT", "/actions", start, 204, ""},
			{"GET", "/", ``, 200, ""},
			{"PUT", "/actions", start, 400, "after starting"},
			{"PUT", "/drives/root", drive, 400, "after starting"},
			{"PUT", "/machine-config", `{"vcpu_count":1,"mem_size_mib":128}`, 400, "after starting"},
			{"PUT", "/logger", `{"log_path":"` + logf + `"}`, 400, "after starting"},
			{"PUT", "/snapshot/load", `{"snapshot_path":"/s","mem_file_path":"/m"}`, 400, "after starting"},
			{"PUT", "/snapshot/create", `{"snapshot_path":"` + dir + `/s","mem_file_path":"` + dir + `/m"}`, 400, "not paused"},
			{"PATCH", "/vm", `{"state":"Paused"}`, 204, ""},
			{"PUT", "/snapshot/create", `{"snapshot_type":"Diff","snapshot_path":"` + dir + `/s","mem_file_path":"` + dir + `/m"}`, 400, "dirty page tracking disabled"},
			{"PUT", "/snapshot/create", `{"snapshot_path":"` + dir + `/s","mem_file_path":"` + dir + `/m"}`, 204, ""},
			{"PATCH", "/vm", `{"state":"Resumed"}`, 204, ""},
		}},
		{"snapshot load only on a fresh process", []step{
			{"PUT", "/boot-source", boot, 204, ""},
			{"PUT", "/snapshot/load", `{"snapshot_path":"` + dir + `/s","mem_file_path":"` + dir + `/m"}`, 400, "after configuring boot-specific resources"},
		}},
		{"snapshot load needs exactly one memory source", []step{
			{"PUT", "/snapshot/load", `{"snapshot_path":"` + dir + `/s"}`, 400, "exactly one of mem_file_path and mem_backend"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, sock := Listen(t, Options{ID: "rules"})
			c := client(sock)
			for i, s := range tt.steps {
				status, f := do(t, c, s)
				if status != s.status || !strings.Contains(f, s.fault) {
					t.Fatalf("step %d %s %s %s: got %d %q, want %d %q", i, s.method, s.path, s.body, status, f, s.status, s.fault)
				}
			}
			if got := len(srv.Requests()); got != len(tt.steps) {
				t.Fatalf("server recorded %d requests, want %d", got, len(tt.steps))
			}
		})
	}
}

// The snapshot written by one fake loads into another, with overrides.
func TestServerSnapshotRoundTrip(t *testing.T) {
	dir := ShortDir(t)
	kernel := filepath.Join(dir, "vmlinux")
	if err := os.WriteFile(kernel, FakeKernel, 0o644); err != nil {
		t.Fatal(err)
	}
	srcSrv, src := Listen(t, Options{ID: "a"})
	c := client(src)
	for _, s := range []step{
		{"PUT", "/boot-source", `{"kernel_image_path":"` + kernel + `"}`, 204, ""},
		{"PUT", "/network-interfaces/eth0", `{"iface_id":"eth0","host_dev_name":"tap-a"}`, 204, ""},
		{"PUT", "/vsock", `{"guest_cid":3,"uds_path":"` + dir + `/a.vsock"}`, 204, ""},
		{"PUT", "/actions", `{"action_type":"InstanceStart"}`, 204, ""},
		{"PATCH", "/vm", `{"state":"Paused"}`, 204, ""},
		{"PUT", "/snapshot/create", `{"snapshot_path":"` + dir + `/s","mem_file_path":"` + dir + `/m"}`, 204, ""},
	} {
		if st, f := do(t, c, s); st != s.status {
			t.Fatalf("%s %s: %d %s", s.method, s.path, st, f)
		}
	}
	_ = srcSrv.Close()
	dstSrv, dst := Listen(t, Options{ID: "b"})
	c = client(dst)
	load := `{"snapshot_path":"` + dir + `/s","mem_backend":{"backend_type":"File","backend_path":"` + dir + `/m"},` +
		`"network_overrides":[{"iface_id":"eth0","host_dev_name":"tap-b"}],"vsock_override":{"uds_path":"` + dir + `/b.vsock"},"resume_vm":true}`
	if st, f := do(t, c, step{"PUT", "/snapshot/load", load, 0, ""}); st != 204 {
		t.Fatalf("load: %d %s", st, f)
	}
	if dstSrv.State() != StateRunning {
		t.Fatalf("state after resume_vm load = %s", dstSrv.State())
	}
	req, _ := http.NewRequestWithContext(context.Background(), "GET", "http://localhost/vm/config", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !bytes.Contains(b, []byte(`"host_dev_name":"tap-b"`)) || !bytes.Contains(b, []byte(`b.vsock`)) {
		t.Fatalf("config after load = %s", b)
	}
	bad := strings.Replace(load, `"eth0"`, `"eth9"`, 1)
	_, c2 := Listen(t, Options{ID: "c"})
	if st, f := do(t, client(c2), step{"PUT", "/snapshot/load", bad, 0, ""}); st != 400 || !strings.Contains(f, "unknown interface eth9") {
		t.Fatalf("override of an unknown interface: %d %s", st, f)
	}
}

func TestParseConnect(t *testing.T) {
	for in, want := range map[string]uint32{"CONNECT 1024": 1024, "CONNECT 0": 0} {
		if got, err := ParseConnect(in); err != nil || got != want {
			t.Errorf("ParseConnect(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"CONNECT", "CONNECT -1", "connect 1", "CONNECT 1 2", "CONNECT 4294967296"} {
		if _, err := ParseConnect(in); err == nil {
			t.Errorf("ParseConnect(%q) accepted", in)
		}
	}
}

// The fake's answers follow the contract too (GET / and /vm/config are
// validated against the response schemas on every call).
func TestResponsesMatchContract(t *testing.T) {
	c := LoadSpec(t)
	if err := c.ValidateResponse(context.Background(), "GET", "/", 200, []byte(`{"app_name":"Firecracker","id":"x","state":"Sleeping","vmm_version":"1"}`)); err == nil {
		t.Fatal("a state outside the enum passed response validation")
	}
	if err := c.ValidateResponse(context.Background(), "GET", "/", 200, []byte(`{"app_name":"Firecracker","id":"x","state":"Running","vmm_version":"1"}`)); err != nil {
		t.Fatal(err)
	}
}
