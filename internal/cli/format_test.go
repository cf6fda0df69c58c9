package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func testVMs() []api.VM {
	return []api.VM{
		{ID: "a1b2c3d4", Name: "web", State: api.VMRunning, Spec: api.VMSpec{Image: "busybox", Cmd: []string{"httpd", "-f"}, Labels: map[string]string{"team": "web"}}, Runtime: api.VMRuntime{IP: "10.0.0.2"}},
		{ID: "e5f6a7b8", Name: "database", State: api.VMExited, Spec: api.VMSpec{Image: "debian:bookworm", Labels: map[string]string{"team": "db", "tier": "back"}}},
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in, kind, header string
	}{
		{"", "table", ""},
		{"table", "table", ""},
		{"json", "json", ""},
		{"{{.Name}} {{.State}}", "template", ""},
		{`table {{.Name}}\t{{.Spec.Image}}\t{{.ExitCode}}`, "template", "NAME\tIMAGE\tEXIT CODE"},
		{`table {{.ID}}\t{{json .Spec.Labels}}\t{{if .Name}}x{{end}}`, "template", "ID\tLABELS\tx"},
	}
	for _, tt := range tests {
		f, err := parseFormat(tt.in)
		if err != nil {
			t.Errorf("parseFormat(%q): %v", tt.in, err)
			continue
		}
		if f.kind != tt.kind || f.header != tt.header {
			t.Errorf("parseFormat(%q) = kind %q header %q, want %q %q", tt.in, f.kind, f.header, tt.kind, tt.header)
		}
	}
	for _, bad := range []string{"yaml", "{{.Name", "{{nosuchfunc .Name}}"} {
		if _, err := parseFormat(bad); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("parseFormat(%q) = %v, want an invalid-argument error", bad, err)
		}
	}
}

func TestHeaderWords(t *testing.T) {
	for in, want := range map[string]string{
		"Name": "NAME", "ExitCode": "EXIT CODE", "IP": "IP", "ID": "ID", "VMM": "VMM",
		"SizeBytes": "SIZE BYTES", "AgentSHA256": "AGENT SHA256", "MemoryMiB": "MEMORY MIB", "VMMName": "VMM NAME",
	} {
		if got := headerWords(in); got != want {
			t.Errorf("headerWords(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintListFormats(t *testing.T) {
	rows := func(vms []api.VM) [][]string {
		out := [][]string{{"NAME"}}
		for _, vm := range vms {
			out = append(out, []string{vm.Name})
		}
		return out
	}
	tests := []struct {
		format, want string
	}{
		{"table", "NAME\nweb\ndatabase\n"},
		{"{{.Name}} {{.State}}", "web running\ndatabase exited\n"},
		{`table {{.Name}}\t{{.Spec.Image}}`, "NAME       IMAGE\nweb        busybox\ndatabase   debian:bookworm\n"},
		{`{{upper .Name}}:{{join .Spec.Cmd " "}}:{{truncate .ID 4}}:{{json .Spec.Labels}}`, "WEB:httpd -f:a1b2:{\"team\":\"web\"}\nDATABASE::e5f6:{\"team\":\"db\",\"tier\":\"back\"}\n"},
		{`{{.Name}}\n`, "web\n\ndatabase\n\n"},
	}
	for _, tt := range tests {
		f, err := parseFormat(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := printList(&out, f, testVMs(), rows); err != nil {
			t.Fatalf("%q: %v", tt.format, err)
		}
		if out.String() != tt.want {
			t.Errorf("--format %q printed\n%q\nwant\n%q", tt.format, out.String(), tt.want)
		}
	}

	var out bytes.Buffer
	if err := printList(&out, outputFormat{kind: "json"}, testVMs(), rows); err != nil {
		t.Fatal(err)
	}
	var back []api.VM
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back) != 2 || back[1].Spec.Labels["tier"] != "back" {
		t.Errorf("--format json: %v %+v", err, back)
	}
	out.Reset()
	if err := printList[api.VM](&out, outputFormat{kind: "json"}, nil, rows); err != nil || out.String() != "[]\n" {
		t.Errorf("an empty listing as JSON is %q, want []", out.String())
	}

	f, _ := parseFormat("{{.NoSuchField}}")
	if err := printList(&out, f, testVMs(), rows); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("a template naming an unknown field: %v", err)
	}
}

func TestPrintObjectsIsOneArray(t *testing.T) {
	objs := []any{testVMs()[0], api.Image{Name: "docker.io/library/busybox:latest", ID: "0123456789abcdef"}}
	var out bytes.Buffer
	if err := printObjects(&out, outputFormat{kind: "json"}, objs, nil); err != nil {
		t.Fatal(err)
	}
	var back []map[string]any
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back) != 2 || back[0]["name"] != "web" || back[1]["id"] != "0123456789abcdef" {
		t.Fatalf("inspect JSON of a VM and an image: %v\n%s", err, out.String())
	}
	out.Reset()
	shown := 0
	err := printObjects(&out, outputFormat{kind: "table"}, objs, func(any) error {
		shown++
		_, err := out.WriteString("obj\n")
		return err
	})
	if err != nil || shown != 2 || out.String() != "obj\n\nobj\n" {
		t.Errorf("table of two objects: %v %q", err, out.String())
	}
	out.Reset()
	f, _ := parseFormat("{{.Name}}")
	if err := printObjects(&out, f, objs, nil); err != nil || out.String() != "web\ndocker.io/library/busybox:latest\n" {
		t.Errorf("template over two objects: %v %q", err, out.String())
	}
}
