package api

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestFrames: frames round-trip; a stream cut inside a frame is
// io.ErrUnexpectedEOF, between frames io.EOF; an oversized length is
// refused before anything is allocated.
func TestFrames(t *testing.T) {
	var b bytes.Buffer
	for _, f := range []Frame{{FrameStdout, []byte("out\n")}, {FrameStderr, nil}, {FrameExit, []byte("5")}} {
		if err := WriteFrame(&b, f.Kind, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	whole := b.Bytes()
	r := bytes.NewReader(whole)
	for _, want := range []string{"out\n", "", "5"} {
		f, err := ReadFrame(r)
		if err != nil || string(f.Data) != want {
			t.Fatalf("ReadFrame = %+v, %v; want %q", f, err, want)
		}
	}
	if _, err := ReadFrame(r); !errors.Is(err, io.EOF) {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	if _, err := ReadFrame(bytes.NewReader(whole[:7])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut inside a frame: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{1, 0xff, 0xff, 0xff, 0xff})); err == nil {
		t.Error("a 4 GiB frame was accepted")
	}
	if err := WriteFrame(io.Discard, FrameStdin, make([]byte, MaxFrame+1)); err == nil {
		t.Error("an oversized frame was written")
	}
}

// FuzzReadFrame: any bytes from the daemon or a client decode without a
// panic, and what decodes re-encodes to the same bytes.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 3, 'a', 'b', 'c'})
	f.Add([]byte{3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := ReadFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteFrame(&b, fr.Kind, fr.Data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), in[:b.Len()]) {
			t.Fatalf("re-encoded %x, read from %x", b.Bytes(), in)
		}
	})
}
