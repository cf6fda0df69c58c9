package cli_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

// TestVersionAgainstDaemon: banger version shows this client's and the
// daemon's versions and API versions.
func TestVersionAgainstDaemon(t *testing.T) {
	td := daemontest.Start(t)
	out, errOut, code := run(t, td.Host, "version", "--format", "json")
	if code != 0 {
		t.Fatalf("version: exit %d: %s", code, errOut)
	}
	var got struct {
		Client api.VersionInfo  `json:"client"`
		Daemon *api.VersionInfo `json:"daemon"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("version --format json: %v\n%s", err, out)
	}
	if got.Client.APIVersion != api.APIVersion || got.Client.Version == "" || got.Daemon == nil ||
		got.Daemon.APIVersion != api.APIVersion || got.Daemon.MinAPIVersion != api.MinAPIVersion {
		t.Fatalf("version = %+v, daemon %+v", got.Client, got.Daemon)
	}
	out, _, code = run(t, td.Host, "version")
	if code != 0 || !strings.Contains(out, "Client:") || !strings.Contains(out, "Daemon:") || !strings.Contains(out, api.APIVersion) {
		t.Fatalf("version table: exit %d\n%s", code, out)
	}
}

// TestVersionMismatch: against a daemon that no longer serves this
// client's API version, banger version shows both sides and fails, and
// any other command fails before it runs, saying which side to upgrade.
func TestVersionMismatch(t *testing.T) {
	rt := api.NewRouter(nil)
	api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
		return api.VersionInfo{Version: "9.9.9", APIVersion: "9.1", MinAPIVersion: "9.0"}, nil
	})
	ran := false
	api.Handle(rt, api.ListVMs, func(*http.Request, api.ListVMsQuery) ([]api.VM, error) {
		ran = true
		return nil, nil
	})
	host := testutil.ServeUnix(t, rt)
	out, errOut, code := run(t, host, "version")
	if code != cli.ExitBanger || !strings.Contains(out, "9.9.9") || !strings.Contains(out, api.APIVersion) ||
		!strings.Contains(errOut, "upgrade this client") {
		t.Errorf("version: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	_, errOut, code = run(t, host, "ps")
	if code != cli.ExitBanger || !strings.Contains(errOut, "this client speaks banger API "+api.APIVersion) ||
		!strings.Contains(errOut, "banger 9.9.9, API 9.1, oldest accepted 9.0") || ran {
		t.Errorf("ps: exit %d, ran %v, stderr %q", code, ran, errOut)
	}
}
