package api

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// TestFrameWriterKeepsFramesWhole sends from many goroutines at once:
// every frame reads back whole, none interleaved.
func TestFrameWriterKeepsFramesWhole(t *testing.T) {
	var buf bytes.Buffer
	w := NewFrameWriter(&buf)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			for range 50 {
				if err := w.Send(FrameStdin, []byte(strings.Repeat(string(rune('a'+i)), 100+i))); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for n := 0; ; n++ {
		f, err := ReadFrame(&buf)
		if err != nil {
			if n != 1000 {
				t.Fatalf("read %d frames, then %v; want 1000", n, err)
			}
			return
		}
		if f.Kind != FrameStdin || strings.Trim(string(f.Data), string(f.Data[:1])) != "" || len(f.Data) != 100+int(f.Data[0]-'a') {
			t.Fatalf("frame %d: kind %d, %q: interleaved", n, f.Kind, f.Data)
		}
	}
}
