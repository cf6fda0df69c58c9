package dockerfile

import (
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary text through buildkit's parser into the plan
// builder: it must answer a plan or an error, never panic, and a plan's
// stage references must point at earlier stages.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FROM a\nRUN x\n",
		"ARG B=busybox\nFROM $B AS one\nCOPY --from=0 a b\nFROM one\nCOPY --from=one /x /y\n",
		"FROM scratch\nADD a /\nENV A=$B\nLABEL x=y\nEXPOSE 80\nHEALTHCHECK CMD true\n",
		"# escape=`\nFROM a\nRUN echo `\n  hi\n",
		"FROM a\nRUN <<EOF\nx\nEOF\n",
		"FROM --platform=$TARGETPLATFORM a\nONBUILD RUN x\n",
	} {
		f.Add(s, "")
	}
	f.Add("FROM a AS t\nFROM b\n", "t")
	f.Fuzz(func(t *testing.T, src, target string) {
		p, err := Parse(strings.NewReader(src), Options{Platform: "linux/amd64", Target: target})
		if err != nil {
			return
		}
		if len(p.Stages) == 0 {
			t.Fatal("plan without stages")
		}
		for i, s := range p.Stages {
			if s.Base.Kind == BaseStage && (s.Base.Stage < 0 || s.Base.Stage >= i) {
				t.Fatalf("stage %d bases on %d", i, s.Base.Stage)
			}
			for _, st := range s.Steps {
				if st.Files != nil && st.Files.From != nil && st.Files.From.Kind == BaseStage && st.Files.From.Stage >= i {
					t.Fatalf("stage %d copies from %d", i, st.Files.From.Stage)
				}
				if _, err := st.Expand([]string{"A=1"}); err != nil {
					continue
				}
				_ = st.Key()
			}
		}
	})
}
