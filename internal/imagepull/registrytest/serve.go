package registrytest

import (
	"context"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ServeTarball starts a registry on addr serving one image, repoTag, whose
// single gzip layer is the tarball at path. It returns the registry and the
// image's reference. The benchmark's registry program is this.
func ServeTarball(_ context.Context, addr, path, repoTag string) (*Registry, string, error) {
	tarball, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	layer, err := LayerFromTar(tarball, Gzip)
	if err != nil {
		return nil, "", err
	}
	img, err := NewImage([]v1.Layer{layer}, WithConfig(v1.Config{Cmd: []string{"/bin/bash"}}))
	if err != nil {
		return nil, "", err
	}
	r, err := Serve(addr)
	if err != nil {
		return nil, "", err
	}
	ref, err := r.PushImage(repoTag, img)
	if err != nil {
		r.Close()
		return nil, "", fmt.Errorf("push %s: %w", repoTag, err)
	}
	return r, ref, nil
}
