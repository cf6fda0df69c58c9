package dockerapi

import (
	"archive/tar"
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// lines decodes a JSON progress stream.
func lines(t *testing.T, rec *httptest.ResponseRecorder) []streamMessage {
	t.Helper()
	var out []streamMessage
	sc := bufio.NewScanner(strings.NewReader(rec.Body.String()))
	for sc.Scan() {
		var m streamMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("stream line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// render is a stream as docker prints it without a terminal, roughly:
// "ID: STATUS [current/total]" or the stream text, one per line.
func render(ms []streamMessage) string {
	var b strings.Builder
	for _, m := range ms {
		switch {
		case m.Error != nil:
			fmt.Fprintf(&b, "ERROR %s|%s\n", m.Error.Message, m.ErrorMessage)
		case m.Stream != "":
			b.WriteString(m.Stream)
		case m.Aux != nil:
			fmt.Fprintf(&b, "AUX %s\n", *m.Aux)
		default:
			if m.ID != "" {
				b.WriteString(m.ID + ": ")
			}
			b.WriteString(m.Status)
			if m.Progress != nil && m.Progress.Total > 0 {
				fmt.Fprintf(&b, " [%d/%d]", m.Progress.Current, m.Progress.Total)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// TestPullStream: a pull reports as docker pull renders it — the
// repository, each layer's progress with progressDetail, the digest and
// the final status; the reference is fromImage and tag made canonical.
func TestPullStream(t *testing.T) {
	ops := newFakeImageOps()
	ops.pullEvents = []progress.Event{
		{ID: "3f2a1b", Action: "pull", Current: 10, Total: 100},
		{ID: "77aa00", Action: "cached", Current: 5, Total: 5},
		{ID: "3f2a1b", Action: "done", Current: 100, Total: 100},
		{ID: "rootfs", Action: "convert", Message: "3 files, 1 directories"},
	}
	s := newImageServer(ops, newFakeVMs())
	rec := do(s, "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/e2e/box&tag=1", "")
	got := render(lines(t, rec))
	pulled, _ := ops.Find("127.0.0.1:5000/e2e/box:1")
	want := "1: Pulling from 127.0.0.1:5000/e2e/box\n" +
		"3f2a1b: Downloading [10/100]\n" +
		"77aa00: Already exists\n" +
		"3f2a1b: Pull complete\n" +
		"rootfs: Converting to ext4: 3 files, 1 directories\n" +
		"Digest: " + pulled.Digest + "\n" +
		"Status: Downloaded newer image for 127.0.0.1:5000/e2e/box:1\n"
	if rec.Code != 200 || got != want || ops.calls[0] != "pull 127.0.0.1:5000/e2e/box:1  -" {
		t.Errorf("pull: %d %v\n%s\nwant\n%s", rec.Code, ops.calls, got, want)
	}

	// Again, the catalog answering the image it has: up to date.
	ops.pullEvents = nil
	ops.pullSame = true
	rec = do(s, "POST", "/v1.41/images/create?fromImage=127.0.0.1:5000/e2e/box&tag=1", "")
	if got := render(lines(t, rec)); !strings.HasSuffix(got, "Status: Image is up to date for 127.0.0.1:5000/e2e/box:1\n") {
		t.Errorf("a pull of what the catalog has: %s", got)
	}

	// The reference, and what the pull's first line is of: its tag, or
	// its digest in full.
	for _, tc := range []struct{ from, tag, want, id string }{
		{"alpine", "", "docker.io/library/alpine:latest", "latest"},
		{"alpine", "3.19", "docker.io/library/alpine:3.19", "3.19"},
		{"library/alpine", "sha256:" + strings.Repeat("a", 64), "docker.io/library/alpine@sha256:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("a", 64)},
		{"ghcr.io/o/r:1", "", "ghcr.io/o/r:1", "1"},
	} {
		if got, err := pullRef(tc.from, tc.tag); err != nil || got != tc.want {
			t.Errorf("pullRef(%q, %q) = %q, %v; want %q", tc.from, tc.tag, got, err, tc.want)
		}
		if got := tagOf(tc.want); got != tc.id {
			t.Errorf("tagOf(%q) = %q, want %q", tc.want, got, tc.id)
		}
	}
	if _, err := pullRef("UPPER", ""); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a bad reference: %v", err)
	}
}

// TestPullErrors: a failure before any progress is Docker's error
// answer with its status; one after it is an errorDetail line; client
// credentials are passed to the pull, malformed ones refused.
func TestPullErrors(t *testing.T) {
	ops := newFakeImageOps()
	ops.pullErr = fmt.Errorf("pull x: %w: manifest unknown", errdefs.ErrNotFound)
	s := newImageServer(ops, newFakeVMs())
	rec := do(s, "POST", "/images/create?fromImage=x&tag=1", "")
	if rec.Code != 404 || message(t, rec) != "pull x: not found: manifest unknown" {
		t.Errorf("a failed pull: %d %s", rec.Code, rec.Body)
	}
	ops.pullEvents = []progress.Event{{ID: "l1", Action: "pull", Current: 1, Total: 2}}
	rec = do(s, "POST", "/images/create?fromImage=x&tag=1", "")
	if got := render(lines(t, rec)); rec.Code != 200 || !strings.HasSuffix(got, "ERROR pull x: not found: manifest unknown|pull x: not found: manifest unknown\n") {
		t.Errorf("a pull failing midway: %d\n%s", rec.Code, got)
	}
	// A client's credentials reach the registry; "{}" (the CLI's "none")
	// and no header leave the daemon's own.
	for _, tc := range []struct {
		auth string
		code int
		user string
	}{
		{base64.URLEncoding.EncodeToString([]byte("{}")), 200, "-"},
		{"", 200, "-"},
		{base64.URLEncoding.EncodeToString([]byte(`{"username":"u","password":"p","serveraddress":"r"}`)), 200, "user=u"},
		{base64.StdEncoding.EncodeToString([]byte(`{"auth":"` + base64.StdEncoding.EncodeToString([]byte("v:w")) + `"}`)), 200, "user=v"},
		{"!!", 400, ""},
		{base64.URLEncoding.EncodeToString([]byte("[1]")), 400, ""},
	} {
		ops.pullErr, ops.pullEvents, ops.calls = nil, nil, nil
		r := httptest.NewRequest("POST", "/images/create?fromImage=y", nil)
		r.Header.Set("X-Registry-Auth", tc.auth)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code != tc.code {
			t.Errorf("auth %q: %d %s", tc.auth, rec.Code, rec.Body)
		}
		if tc.code == 200 && (len(ops.calls) != 1 || !strings.HasSuffix(ops.calls[0], " "+tc.user)) {
			t.Errorf("auth %q: calls %v, want the pull with %s", tc.auth, ops.calls, tc.user)
		}
	}
	if rec := do(s, "POST", "/images/create?fromSrc=-&repo=x", ""); rec.Code != 400 || !strings.Contains(message(t, rec), "banger image import") {
		t.Errorf("import: %d %s", rec.Code, rec.Body)
	}
}

// TestPushSaveLoad: push streams the layers and ends with the digest
// line docker prints and the aux record; save writes a docker save
// archive (manifest.json naming the image); load says "Loaded image"
// quiet or not, progress only when not.
func TestPushSaveLoad(t *testing.T) {
	ops, _, _ := catalog()
	s := newImageServer(ops, newFakeVMs())
	rec := do(s, "POST", "/images/127.0.0.1:5000/team/app/push?tag=2", "")
	app, _ := ops.Find("127.0.0.1:5000/team/app:2")
	got := render(lines(t, rec))
	want := "The push refers to repository [127.0.0.1:5000/team/app]\nabc: Pushing [5/10]\nabc: Pushed\n2: digest: " + app.Digest + "\nAUX {\"Digest\":\"" + app.Digest + "\",\"Size\":0,\"Tag\":\"2\"}\n"
	if got != want || ops.calls[0] != "push 127.0.0.1:5000/team/app:2  -" {
		t.Errorf("push: %v\n%s\nwant\n%s", ops.calls, got, want)
	}
	// No tag is latest; a Docker Hub name is its repository in full, as
	// docker prints them.
	ops.add("latest0000000001", "127.0.0.1:5000/team/app:latest", "build", nil)
	for path, want := range map[string]string{
		"/images/127.0.0.1:5000/team/app/push": "The push refers to repository [127.0.0.1:5000/team/app]\n",
		"/images/alpine/push?tag=latest":       "The push refers to repository [docker.io/library/alpine]\n",
	} {
		got := render(lines(t, do(s, "POST", path, "")))
		if !strings.HasPrefix(got, want) || !strings.Contains(got, "\nlatest: digest: sha256:") || !strings.Contains(got, `"Tag":"latest"`) {
			t.Errorf("push %s:\n%s\nwant %q first and the tag latest", path, got, want)
		}
	}
	if rec := do(s, "POST", "/images/UPPER/push", ""); rec.Code != 400 || !strings.Contains(message(t, rec), "invalid reference format") {
		t.Errorf("push of a bad name: %d %s", rec.Code, rec.Body)
	}

	for _, path := range []string{"/images/alpine/get", "/images/get?names=alpine&names=127.0.0.1:5000/team/app:2"} {
		rec = do(s, "GET", path, "")
		tr := tar.NewReader(rec.Body)
		var manifest string
		for {
			hdr, err := tr.Next()
			if err != nil {
				break
			}
			if hdr.Name == "manifest.json" {
				b, _ := io.ReadAll(tr)
				manifest = string(b)
			}
		}
		if rec.Code != 200 || !strings.Contains(manifest, `"docker.io/library/alpine:latest"`) && !strings.Contains(manifest, `"alpine:latest"`) {
			t.Errorf("save %s: %d manifest %q", path, rec.Code, manifest)
		}
	}
	if rec := do(s, "GET", "/images/get?names=nope", ""); rec.Code != 404 {
		t.Errorf("save of nothing: %d", rec.Code)
	}

	rec = do(s, "POST", "/images/load", "archive")
	if got := render(lines(t, rec)); got != "layer: Loading layer complete\nLoaded image: loaded:1\n" {
		t.Errorf("load: %q", got)
	}
	rec = do(s, "POST", "/images/load?quiet=1", "archive")
	if got := render(lines(t, rec)); got != "Loaded image: loaded:1\n" {
		t.Errorf("load -q: %q", got)
	}
	if rec := do(s, "POST", "/images/load", ""); rec.Code != 400 {
		t.Errorf("load of nothing: %d %s", rec.Code, rec.Body)
	}
}
