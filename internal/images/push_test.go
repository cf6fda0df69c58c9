package images

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// authRegistry serves a registry on loopback that wants basic auth
// user:secret, and returns its host.
func authRegistry(t *testing.T) string {
	t.Helper()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// authPushFixture is a catalog holding app:1, an auth registry's host
// and the name to push app:1 to there, with an empty docker config.
func authPushFixture(t *testing.T) (*fixture, string, string) {
	t.Helper()
	requireE2fsprogs(t)
	f := newFixture(t)
	if _, err := f.Store(t.Context(), "app:1", smallImage(t), StoreOptions{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	host := authRegistry(t)
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	return f, host, host + "/team/app:1"
}

// Push takes credentials from the docker config file, as pull does;
// without them the registry's refusal says to log in.
func TestPushWithDockerConfigCredentials(t *testing.T) {
	f, host, target := authPushFixture(t)
	_, err := f.Push(t.Context(), "app:1", target, progress.Quiet{})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "docker login "+host) || !strings.Contains(err.Error(), "push app:1 to "+target) {
		t.Fatalf("push without credentials = %v, want a refusal saying docker login %s", err, host)
	}

	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("user:secret"))
	writeFile(t, filepath.Join(dir, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
	t.Setenv("DOCKER_CONFIG", dir)
	res, err := f.Push(t.Context(), "app:1", target, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	img, _ := f.Find("app:1")
	if res.Digest != img.Digest || res.Uploaded != 1 {
		t.Fatalf("push %+v, want %s with its layer uploaded", res, img.Digest)
	}
	if _, err := remote.Head(mustRef(t, host+"/team/app@"+img.Digest), remote.WithAuth(&authn.Basic{Username: "user", Password: "secret"})); err != nil {
		t.Fatalf("the registry does not have the pushed manifest: %v", err)
	}
}

// staticKeychain answers one authenticator for every registry, as the
// Engine API's X-Registry-Auth keychain does.
type staticKeychain struct{ authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k, nil }

// PushWith and Pull with a keychain use its credentials, not the docker
// config file's (here: none), so a client's login reaches the registry.
func TestPushAndPullWithKeychain(t *testing.T) {
	f, _, target := authPushFixture(t)
	kc := staticKeychain{&authn.Basic{Username: "user", Password: "secret"}}

	res, err := f.PushWith(t.Context(), "app:1", target, PushOptions{Keychain: kc}, progress.Quiet{})
	img, _ := f.Find("app:1")
	if err != nil || res.Digest != img.Digest {
		t.Fatalf("push with a keychain = %+v, %v; want %s pushed", res, err, img.Digest)
	}
	if _, err := f.Pull(t.Context(), target, PullOptions{}, progress.Quiet{}); err == nil || !strings.Contains(err.Error(), "401 Unauthorized") {
		t.Fatalf("pull without the keychain = %v, want the registry's 401", err)
	}
	pulled, err := f.Pull(t.Context(), target, PullOptions{Keychain: kc}, progress.Quiet{})
	if err != nil || pulled.Digest != img.Digest {
		t.Fatalf("pull with the keychain = %+v, %v; want %s", pulled, err, img.Digest)
	}
}
