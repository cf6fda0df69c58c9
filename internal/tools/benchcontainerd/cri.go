package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/tools/benchdaemon"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// podTimes is how long one pod's crictl runp, create and start took, in
// seconds.
type podTimes struct{ runp, create, start float64 }

// benchCRI starts n pods back to back through the CRI (crictl runp,
// create, start of a container running sleep 300; the pod is one VM,
// booted by runp, the container a root in it), timed from the first runp to every container
// CONTAINER_RUNNING, removes them, then starts n containers with
// `banger run -d` the same way, and prints pods per minute each way, the
// ratio crictl/banger (above 1: the CRI path starts them faster) and the
// median runp, create and start of a pod.
func (b *bench) benchCRI(ctx context.Context, n int) error {
	dir, err := os.MkdirTemp("", "bench-cri")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("tp-%d", i+1)
	}
	times := make([]podTimes, 0, n)
	criT, err := timed(func() error {
		cids := make([]string, 0, n)
		for _, id := range ids {
			t, cid, err := b.startPod(ctx, dir, id)
			if err != nil {
				return err
			}
			times, cids = append(times, t), append(cids, cid)
		}
		return b.waitPods(ctx, cids)
	})
	b.removePods(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	for i, t := range times {
		fmt.Printf("pod %s: runp %.3fs  create %.3fs  start %.3fs\n", ids[i], t.runp, t.create, t.start)
	}
	network := "host network"
	if b.net != nil {
		network = "CNI bridge " + b.net.br.Bridge + " " + b.net.br.Subnet
	}
	fmt.Printf("%d x crictl runp + create + start ... sleep 300 (pods on the %s), to all CONTAINER_RUNNING  %.3fs\n", n, network, criT)
	if err := b.bangerThroughput(ctx, ids, "pods", "crictl", criT); err != nil {
		return err
	}
	pick := func(f func(podTimes) float64) float64 {
		v := make([]float64, len(times))
		for i, t := range times {
			v[i] = f(t)
		}
		return benchdaemon.Median(v)
	}
	fmt.Printf("median per pod: runp %.3fs  create %.3fs  start %.3fs\n",
		pick(func(t podTimes) float64 { return t.runp }),
		pick(func(t podTimes) float64 { return t.create }),
		pick(func(t podTimes) float64 { return t.start }))
	return nil
}

// startPod starts pod name (its configuration files under dir): crictl
// runp, create and start of a container running sleep 300. It answers
// how long each took and the container's id.
func (b *bench) startPod(ctx context.Context, dir, name string) (podTimes, string, error) {
	podJSON, ctrJSON := filepath.Join(dir, name+"-pod.json"), filepath.Join(dir, name+"-ctr.json")
	if err := os.WriteFile(podJSON, podConfig(name, filepath.Join(dir, "logs", name), b.net == nil), 0o600); err != nil {
		return podTimes{}, "", err
	}
	if err := os.WriteFile(ctrJSON, containerConfig(name, b.ref), 0o600); err != nil {
		return podTimes{}, "", err
	}
	var t podTimes
	var pod, cid string
	var err error
	if t.runp, err = timed(func() error { pod, err = b.crictl(ctx, "runp", "--runtime", "banger", podJSON); return err }); err != nil {
		return t, "", err
	}
	if t.create, err = timed(func() error { cid, err = b.crictl(ctx, "create", pod, ctrJSON, podJSON); return err }); err != nil {
		return t, "", err
	}
	t.start, err = timed(func() error { _, err := b.crictl(ctx, "start", cid); return err })
	return t, cid, err
}

// waitPods waits until crictl lists every container of cids running; a
// container of them that exited is an error.
func (b *bench) waitPods(ctx context.Context, cids []string) error {
	return waitAll(ctx, cids, func() ([]string, error) {
		out, err := b.crictl(ctx, "ps", "-a", "-o", "json")
		if err != nil {
			return nil, err
		}
		states, err := containerStates(out)
		if err != nil {
			return nil, err
		}
		var running []string
		for id, st := range states {
			switch {
			case st == "CONTAINER_RUNNING":
				running = append(running, id)
			case st == "CONTAINER_EXITED" && slices.Contains(cids, id):
				return nil, fmt.Errorf("container %s exited instead of running sleep 300 (crictl logs %s says why)", id, id)
			}
		}
		return running, nil
	})
}

// removePods stops and removes every pod of the bench's containerd (its
// own: they are all the bench's, including one whose runp was cut short);
// it runs after a SIGINT too, so its context must be fresh.
func (b *bench) removePods(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, _ := b.crictl(ctx, "pods", "-q")
	for _, pod := range strings.Fields(out) {
		_, _ = b.crictl(ctx, "stopp", pod)
		_, _ = b.crictl(ctx, "rmp", "-f", pod)
	}
}

// crictl runs crictl and answers its trimmed stdout; a non-zero exit is
// an error quoting its output.
func (b *bench) crictl(ctx context.Context, args ...string) (string, error) {
	out, errOut, code := b.cc.Run(ctx, args...)
	if code != 0 {
		return "", fmt.Errorf("crictl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out), nil
}

// containerStates parses `crictl ps -o json`: each container's id and
// state (CONTAINER_RUNNING, ...).
func containerStates(out string) (map[string]string, error) {
	var res struct {
		Containers []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return nil, fmt.Errorf("crictl ps -o json: %w", err)
	}
	states := make(map[string]string, len(res.Containers))
	for _, c := range res.Containers {
		states[c.ID] = c.State
	}
	return states, nil
}

// podConfig is crictl runp's configuration of pod name (its uid the
// name: unique in the bench's containerd) logging to logDir, on the
// host's network or (hostNet false) on the CNI network.
func podConfig(name, logDir string, hostNet bool) []byte {
	linux := map[string]any{}
	if hostNet {
		linux["security_context"] = map[string]any{"namespace_options": map[string]any{"network": 2}}
	}
	return mustJSON(map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "bench", "uid": name, "attempt": 0},
		"log_directory": logDir,
		"linux":         linux,
	})
}

// containerConfig is crictl create's configuration of a container name
// of image running sleep 300.
func containerConfig(name, image string) []byte {
	return mustJSON(map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": image},
		"command":  []string{"sleep", "300"},
		"log_path": name + ".log",
		"linux":    map[string]any{},
	})
}

// mustJSON marshals v, which is maps of strings and numbers.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// pushPause pushes the pause image of the bench's pods to reg: the root
// file system at imageTar running sleep (the pod VM's main process, for
// as long as the pod runs). It answers its reference.
func pushPause(reg *registrytest.Registry, imageTar string) (string, error) {
	tarball, err := os.ReadFile(imageTar) //nolint:gosec // the bench's own image
	if err != nil {
		return "", err
	}
	layer, err := registrytest.LayerFromTar(tarball, registrytest.Gzip)
	if err != nil {
		return "", err
	}
	img, err := registrytest.NewImage([]v1.Layer{layer}, registrytest.WithConfig(v1.Config{Entrypoint: []string{"sleep", "2147483647"}}))
	if err != nil {
		return "", err
	}
	return reg.PushImage("bench/pause:1", img)
}
