package daemon

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
)

// fill sets every field v reaches to a distinct non-zero value, so a
// conversion that drops a field shows in the output.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(t, v.Elem(), n)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(t, k, n)
			fill(t, e, n)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill: add a case for %s", v.Type())
	}
}

// Each wire conversion carries every field of the record: the API sends
// exactly what the store holds.
func TestWireConversionsKeepEveryField(t *testing.T) {
	for _, tc := range []struct {
		name    string
		record  any
		convert func(any) any
	}{
		{"image", &images.Image{}, func(r any) any { return wireImage(*r.(*images.Image)) }},
		{"kernel", &kernelcat.Kernel{}, func(r any) any { return wireKernel(*r.(*kernelcat.Kernel)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			fill(t, reflect.ValueOf(tc.record).Elem(), &n)
			want, err := json.Marshal(tc.record)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(tc.convert(tc.record))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("wire form\n%s\nrecord\n%s", got, want)
			}
		})
	}
}

// A VM's spec crosses the wire and back whole, mounts included, but for
// its Caller.
func TestSpecRoundTripsTheWire(t *testing.T) {
	var spec vms.Spec
	n := 0
	fill(t, reflect.ValueOf(&spec).Elem(), &n)
	if len(spec.Mounts) != 2 || spec.Mounts[1].Target == "" {
		t.Fatalf("fill left the mounts empty: %+v", spec.Mounts)
	}
	// Not on the wire: the daemon records whose access the host paths
	// were checked with (vms.Authorize); a client never says it.
	spec.Caller = nil
	if got := specFromAPI(specToAPI(spec)); !reflect.DeepEqual(got, spec) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, spec)
	}
}

// Stats cross to the wire with every number (the names differ, so each
// wire field is checked set).
func TestStatsToAPIKeepsEveryField(t *testing.T) {
	var s vmstats.Stats
	n := 0
	fill(t, reflect.ValueOf(&s).Elem(), &n)
	got := reflect.ValueOf(statsToAPI([]vmstats.Stats{s})[0])
	for i := range got.NumField() {
		if got.Field(i).IsZero() {
			t.Errorf("api.VMStats.%s is not converted", got.Type().Field(i).Name)
		}
	}
}

// What a shim's wait needs of the answer (issue 14: exit_code, signal,
// oom, exited_at) crosses the wire under the names pkg/api documents.
func TestWaitAnswerCarriesTheExit(t *testing.T) {
	code := 137
	stopped := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	b, err := json.Marshal(vmToAPI(vms.VM{ID: "x", State: vms.Exited, ExitCode: &code, ExitSignal: "KILL", OOMKilled: true, Stopped: stopped}))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"exit_code": 137.0, "exit_signal": "KILL", "oom_killed": true, "stopped": "2026-01-02T03:04:05.000000006Z"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (in %s)", k, got[k], v, b)
		}
	}
}
