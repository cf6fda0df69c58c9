package containershim

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// Main runs the shim binary: containerd's shim package parses the flags
// and runs the action (start, delete) or the server with the task
// service. The daemon is $BANGER_HOST's, else the system daemon's.
func Main() {
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn:   initService,
	})
	shim.RunShim(context.Background(), Manager{Dial: dialDaemon, Mounter: HostMounter{}})
}

func dialDaemon() (Daemon, error) { return NewClient("") }

// initService builds the task service from the shim package's publisher
// and shutdown service.
func initService(ic *plugin.InitContext) (any, error) {
	pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
	if err != nil {
		return nil, err
	}
	publisher, ok := pp.(shim.Publisher)
	if !ok {
		return nil, fmt.Errorf("the shim's publisher is a %T", pp)
	}
	ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
	if err != nil {
		return nil, err
	}
	sd, ok := ss.(shutdown.Service)
	if !ok {
		return nil, errors.New("the shim's shutdown service has the wrong type")
	}
	ns, err := namespaces.NamespaceRequired(ic.Context)
	if err != nil {
		return nil, err
	}
	d, err := dialDaemon()
	if err != nil {
		return nil, err
	}
	s := NewService(ic.Context, Options{Daemon: d, Mounter: HostMounter{}, Publisher: publisher, Namespace: ns, Shutdown: sd.Shutdown})
	sd.RegisterCallback(func(context.Context) error {
		s.Close()
		return publisher.Close()
	})
	return s, nil
}
