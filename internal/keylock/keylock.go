// Package keylock serializes work per key: a start, a stop and a remove of
// one VM, two pulls of one image name, two makers of one grown image never
// interleave, while work on different keys never waits.
package keylock

import "sync"

// Set is a mutex per key, made on first use. The zero value is ready.
type Set struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// Lock locks key and returns its unlock.
func (s *Set) Lock(key string) func() {
	s.mu.Lock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	m, ok := s.locks[key]
	if !ok {
		m = &sync.Mutex{}
		s.locks[key] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}
