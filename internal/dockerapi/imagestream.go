package dockerapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/api/types/jsonstream"

	"github.com/bangerdev/banger/internal/imagearchive"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/progress"
)

// streamMessage is one line of Docker's JSON progress stream; Error
// repeats errorDetail's message under the key older clients read.
type streamMessage struct {
	jsonstream.Message
	ErrorMessage string `json:"error,omitempty"`
}

// jsonStream writes Docker's JSON progress stream — what docker pull,
// push, load and build render — and is the progress.Sink banger's
// services report to. Safe for concurrent use (layers report at once).
type jsonStream struct {
	mu      sync.Mutex
	enc     *json.Encoder
	flusher http.Flusher
	started bool
	w       http.ResponseWriter
	// asStream says messages go as build output ({"stream": ...}), not
	// status lines.
	asStream bool
	// first is sent before the first message: a pull's "Pulling from"
	// goes once the pull is under way, so a pull failing at once is an
	// error answer with its status (404 for an unknown image).
	first *streamMessage
	// done is the status of a finished task ("Pull complete", "Pushed").
	done string
}

// newJSONStream starts nothing yet: the 200 and its header go with the
// first message, so an error before any is still a Docker error answer.
func newJSONStream(w http.ResponseWriter) *jsonStream {
	f, _ := w.(http.Flusher)
	return &jsonStream{enc: json.NewEncoder(w), flusher: f, w: w, done: "Pull complete"}
}

func (j *jsonStream) send(m streamMessage) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.started {
		j.w.Header().Set("Content-Type", "application/json")
		j.w.WriteHeader(http.StatusOK)
		j.started = true
		if j.first != nil {
			_ = j.enc.Encode(j.first)
		}
	}
	_ = j.enc.Encode(m)
	if j.flusher != nil {
		j.flusher.Flush()
	}
}

// status sends a status line.
func (j *jsonStream) status(format string, args ...any) {
	j.send(streamMessage{Message: jsonstream.Message{Status: fmt.Sprintf(format, args...)}})
}

// Message is a line for the user: a status line, or build output.
func (j *jsonStream) Message(s string) {
	if j.asStream {
		j.send(streamMessage{Message: jsonstream.Message{Stream: s + "\n"}})
		return
	}
	j.status("%s", s)
}

// progressStatus is the status docker shows for a banger progress
// action.
var progressStatus = map[string]string{
	"pull": "Downloading", "cached": "Already exists", "verify": "Verifying Checksum",
	"exists": "Layer already exists", "push": "Pushing", "convert": "Converting to ext4", "evicted": "Corrupt in the cache, fetching it again",
}

// Progress is a per-task line with progressDetail, which docker draws
// as a bar.
func (j *jsonStream) Progress(e progress.Event) {
	st, ok := progressStatus[e.Action]
	if e.Action == "done" {
		st, ok = j.done, true
	}
	if !ok {
		st = strings.ToUpper(e.Action[:min(1, len(e.Action))]) + e.Action[min(1, len(e.Action)):]
	}
	if e.Message != "" && e.Action != "done" {
		st += ": " + e.Message
	}
	m := streamMessage{Message: jsonstream.Message{ID: e.ID, Status: st, Progress: &jsonstream.Progress{}}}
	if !e.Done() && e.Total > 0 {
		m.Progress = &jsonstream.Progress{Current: e.Current, Total: e.Total}
	}
	j.send(m)
}

// fail ends the stream with err: Docker's error answer when nothing was
// sent yet, else an errorDetail line (the status is already 200).
func (j *jsonStream) fail(err error) {
	j.mu.Lock()
	started := j.started
	j.mu.Unlock()
	if !started {
		writeError(j.w, err)
		return
	}
	j.send(streamMessage{Message: jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}}, ErrorMessage: err.Error()})
}

// aux sends out-of-band data (a build's image id, a push's digest).
func (j *jsonStream) aux(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	raw := json.RawMessage(b)
	j.send(streamMessage{Message: jsonstream.Message{Aux: &raw}})
}

var _ progress.Sink = (*jsonStream)(nil)

// registryAuth is the credentials a client sent with a pull or push
// (X-Registry-Auth: base64 JSON of what docker login stored for the
// image's registry), as a keychain for that request: the registry sees
// the client's credentials, as with Docker's daemon. nil (no header, or
// "{}", which the CLI sends when it has none) means the daemon's own.
func registryAuth(r *http.Request) (authn.Keychain, error) {
	h := strings.TrimSpace(r.Header.Get("X-Registry-Auth"))
	if h == "" {
		return nil, nil
	}
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.StdEncoding, base64.RawURLEncoding, base64.RawStdEncoding} {
		if b, err = enc.DecodeString(h); err == nil {
			break
		}
	}
	if err != nil {
		return nil, badParam("X-Registry-Auth: not base64: %v", err)
	}
	var cfg authn.AuthConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, badParam("X-Registry-Auth: %v", err)
	}
	if cfg == (authn.AuthConfig{}) {
		return nil, nil
	}
	return clientKeychain{authn.FromConfig(cfg)}, nil
}

// clientKeychain answers one request's credentials for its registry.
type clientKeychain struct{ auth authn.Authenticator }

func (k clientKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.auth, nil }

// imagePull is POST /images/create?fromImage=&tag=: banger's pull,
// reported as docker pull renders it. fromSrc (import) is refused: use
// banger image import.
func (s *Server) imagePull(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("fromSrc") != "" {
		writeError(w, refuse("image import (fromSrc)", "import a root file system tarball with banger image import"))
		return
	}
	kc, err := registryAuth(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ref, err := pullRef(q.Get("fromImage"), q.Get("tag"))
	if err != nil {
		writeError(w, err)
		return
	}
	js := newJSONStream(w)
	familiar := imagepull.FamiliarName(ref)
	js.first = &streamMessage{Message: jsonstream.Message{ID: tagOf(ref), Status: "Pulling from " + imagepull.Repository(familiar)}}
	before, _ := s.opts.ImageOps.Find(ref)
	img, err := s.opts.ImageOps.Pull(r.Context(), ref, images.PullOptions{Platform: q.Get("platform"), Keychain: kc}, js)
	if err != nil {
		js.fail(err)
		return
	}
	js.status("Digest: %s", img.Digest)
	if before.ID == img.ID {
		js.status("Status: Image is up to date for %s", familiar)
		return
	}
	js.status("Status: Downloaded newer image for %s", familiar)
}

// pullRef is the reference fromImage and tag name, canonical: tag ""
// is latest; a tag that is a digest pulls by digest. Pulling every tag
// of a repository (Docker's empty tag with --all-tags) is not offered.
func pullRef(from, tag string) (string, error) {
	if from == "" {
		return "", badParam("fromImage: name an image to pull")
	}
	ref := from
	switch {
	case strings.HasPrefix(tag, "sha256:"):
		ref += "@" + tag
	case tag != "":
		ref += ":" + tag
	}
	name, err := imagepull.NormalizeName(ref)
	if err != nil {
		return "", badParam("invalid reference format: %v", err)
	}
	return name, nil
}

// tagOf is a canonical reference's tag, or its digest: what docker
// prints in front of a pull's first line and a push's digest.
func tagOf(canonical string) string {
	if _, d, ok := strings.Cut(canonical, "@"); ok {
		return d
	}
	return canonical[strings.LastIndex(canonical, ":")+1:]
}

// imagePush is POST /images/{name}/push?tag=: banger's push of the image
// to the registry its name says, reported as docker push renders it.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) {
	kc, err := registryAuth(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ref := name
	if tag := r.URL.Query().Get("tag"); tag != "" {
		ref += ":" + tag
	}
	// The canonical name says the repository and the tag (latest when
	// none is given) as docker prints them.
	canonical, err := imagepull.NormalizeName(ref)
	if err != nil {
		writeError(w, badParam("invalid reference format: %v", err))
		return
	}
	js := newJSONStream(w)
	js.done = "Pushed"
	js.first = &streamMessage{Message: jsonstream.Message{Status: "The push refers to repository [" + imagepull.Repository(canonical) + "]"}}
	res, err := s.opts.ImageOps.PushWith(r.Context(), ref, "", images.PushOptions{Keychain: kc}, js)
	if err != nil {
		js.fail(err)
		return
	}
	tag := tagOf(canonical)
	js.status("%s: digest: %s", tag, res.Digest)
	js.aux(map[string]any{"Tag": tag, "Digest": res.Digest, "Size": 0})
}

// imageSave is GET /images/get?names=...: docker save of several.
func (s *Server) imageSave(w http.ResponseWriter, r *http.Request) {
	s.saveImages(w, r.URL.Query()["names"])
}

// saveImages writes a docker save archive of names. What can fail is
// checked before the first byte (Save); a failure after it aborts the
// connection, so the client sees a broken stream, never a short archive.
func (s *Server) saveImages(w http.ResponseWriter, names []string) {
	var refs []string
	for _, n := range names {
		di, rec, err := s.findImage(n)
		if err != nil {
			writeError(w, err)
			return
		}
		if rec != nil {
			refs = append(refs, rec.ID)
			continue
		}
		for _, rec := range di.Recs {
			refs = append(refs, rec.ID)
		}
	}
	entries, release, err := s.opts.ImageOps.Save(refs)
	if err != nil {
		writeError(w, err)
		return
	}
	defer release()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := imagearchive.Write(w, entries, imagearchive.Docker); err != nil {
		s.opts.Log.Warn("docker image save failed mid-stream", "images", names, "error", err)
		panic(http.ErrAbortHandler)
	}
}

// imageLoad is POST /images/load?quiet=: banger's load of a docker save
// or OCI archive; each image recorded is a "Loaded image" line, which
// docker load prints (quiet or not: the progress lines are what quiet
// leaves out).
func (s *Server) imageLoad(w http.ResponseWriter, r *http.Request) {
	js := newJSONStream(w)
	js.done = "Loading layer complete"
	var sink progress.Sink = js
	if boolParam(r.URL.Query().Get("quiet")) {
		sink = progress.Quiet{}
	}
	imgs, err := s.opts.ImageOps.Load(r.Context(), r.Body, images.LoadOptions{Source: "the uploaded archive"}, sink)
	if err != nil {
		js.fail(err)
		return
	}
	for _, img := range imgs {
		js.send(streamMessage{Message: jsonstream.Message{Stream: "Loaded image: " + imagepull.FamiliarName(img.Name) + "\n"}})
	}
}
