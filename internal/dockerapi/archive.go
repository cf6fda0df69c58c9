package dockerapi

import (
	"archive/tar"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/pkg/sftp"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// archiveRoutes: docker cp, both ways, over the agent's sftp as `banger
// cp` does. The header X-Docker-Container-Path-Stat describes the path.
func (s *Server) archiveRoutes(mux *http.ServeMux) {
	mux.HandleFunc("HEAD /containers/{id}/archive", s.archiveGet)
	mux.HandleFunc("GET /containers/{id}/archive", s.archiveGet)
	mux.HandleFunc("PUT /containers/{id}/archive", s.archivePut)
}

// pathStatHeader is the header carrying a container path's stat.
const pathStatHeader = "X-Docker-Container-Path-Stat"

// guestFiles opens the sftp session to the container's guest and the
// absolute path the request names.
func (s *Server) guestFiles(r *http.Request) (*agentclient.Client, *sftp.Client, string, error) {
	p := r.URL.Query().Get("path")
	if p == "" {
		return nil, nil, "", badParam("archive: give the container path (path=)")
	}
	if !path.IsAbs(p) {
		p = "/" + p // Docker's paths are relative to the container's root
	}
	vm, err := s.vm(r.PathValue("id"))
	if err != nil {
		return nil, nil, "", err
	}
	c, err := s.opts.Ops.Live.Agent(r.Context(), vm.ID)
	if err != nil {
		return nil, nil, "", err
	}
	agent := agentclient.Over(c)
	fsys, err := agent.SFTP()
	if err != nil {
		return nil, nil, "", err
	}
	return agent, fsys, p, nil
}

// statPath is p's stat in Docker's terms: a symlink's own (its target
// resolved against its directory).
func statPath(fsys *sftp.Client, p string) (container.PathStat, error) {
	fi, err := fsys.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return container.PathStat{}, kindError(errdefs.ErrNotFound, "Could not find the file %s in container", p)
		}
		return container.PathStat{}, fmt.Errorf("stat %s: %w", p, err)
	}
	st := container.PathStat{Name: path.Base(p), Size: fi.Size(), Mode: fi.Mode(), Mtime: fi.ModTime()}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := fsys.ReadLink(p)
		if err != nil {
			return st, fmt.Errorf("readlink %s: %w", p, err)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		st.LinkTarget = target
	}
	return st, nil
}

func setPathStat(w http.ResponseWriter, st container.PathStat) {
	b, _ := json.Marshal(st)
	w.Header().Set(pathStatHeader, base64.StdEncoding.EncodeToString(b))
}

// archiveGet answers the container path's stat (HEAD) and a tar of it
// (GET): a file, or a directory's tree, named by the path's last
// element. The guest is not trusted: a name in it that is not one path
// element stops the tar, and a failure once the tar has begun cuts the
// connection, so the client never takes a partial tar for a whole one.
func (s *Server) archiveGet(w http.ResponseWriter, r *http.Request) {
	_, fsys, p, err := s.guestFiles(r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer func() { _ = fsys.Close() }()
	st, err := statPath(fsys, p)
	if err != nil {
		writeError(w, err)
		return
	}
	setPathStat(w, st)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	tw := tar.NewWriter(w)
	err = tarTree(r.Context(), fsys, tw, p, path.Base(p))
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		s.opts.Log.Warn("docker api archive cut", "path", p, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// tarTree writes src (in the guest) to tw as name, a directory's entries
// after it.
func tarTree(ctx context.Context, fsys *sftp.Client, tw *tar.Writer, src, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := fsys.Lstat(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	var link string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = fsys.ReadLink(src); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 {
		return fmt.Errorf("copy %s: %v files are not copied", src, fi.Mode().Type())
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		hdr.Uid, hdr.Gid = int(st.UID), int(st.GID)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := fsys.Open(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		_, err = io.Copy(tw, io.LimitReader(f, fi.Size()))
		_ = f.Close()
		return err
	case fi.IsDir():
		ents, err := fsys.ReadDir(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		for _, e := range ents {
			if !isFileName(e.Name()) {
				return fmt.Errorf("copy %s: entry %q: not a file name: refusing it", src, e.Name())
			}
			if err := tarTree(ctx, fsys, tw, path.Join(src, e.Name()), name+"/"+e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

// isFileName accepts a directory entry's name: one path element.
func isFileName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
}
