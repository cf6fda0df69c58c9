package cli

import (
	"bytes"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
)

func TestPrintPruneResult(t *testing.T) {
	res := api.PruneImagesResult{
		Images:      []api.Image{{Name: "docker.io/library/app:1", Digest: "sha256:0123456789abcdef0123"}},
		CacheImages: []string{"banger.build/cache:aa", "banger.build/cache:bb"},
		Blobs:       []string{"sha256:cc"}, StepFiles: 3, BytesFreed: 3 << 20,
		Notes: []string{"kept 3 build step files: a build is running; prune again after it"},
	}
	for _, tc := range []struct {
		dry  bool
		want string
	}{
		{false, "Removed image docker.io/library/app:1 (sha256:0123456789ab)\n" +
			"Removed 2 build cache images, 3 build step files, 1 cached layers\n" +
			"Note: kept 3 build step files: a build is running; prune again after it\n" +
			"Reclaimed 3MiB\n"},
		{true, "Would remove image docker.io/library/app:1 (sha256:0123456789ab)\n" +
			"Would remove 2 build cache images, 3 build step files, 1 cached layers\n" +
			"Note: kept 3 build step files: a build is running; prune again after it\n" +
			"Would reclaim 3MiB\n"},
	} {
		res.DryRun = tc.dry
		var b bytes.Buffer
		if err := printPruneResult(&b, res); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("dry run %v:\n%s\nwant\n%s", tc.dry, b.String(), tc.want)
		}
	}
}
