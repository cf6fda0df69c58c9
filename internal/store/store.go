// Package store keeps banger's persistent records — images, kernels, VMs,
// IP leases, named volumes and the event journal — in one embedded
// database file.
//
// The database is bbolt, not SQLite: it is pure Go (the daemon stays one
// static binary with CGO_ENABLED=0), it adds ~1 MB instead of the ~10 MB of a
// pure-Go SQLite, and its serializable read-write transactions are exactly
// what the daemon needs — "allocate the first free IP" or "create the record
// unless the name exists" are one transaction, with no SQL schema to migrate.
// Records are JSON, keyed by name or id, one bucket per kind, so the JSON
// names of the record types (images.Image, kernelcat.Kernel, ...) are the
// file format. The daemon is the only writer; bbolt's file lock keeps a
// second daemon out.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Store is an open database.
type Store struct {
	db *bolt.DB
}

// Bucket names one kind of record.
type Bucket string

// The buckets.
const (
	Images  Bucket = "images"
	Kernels Bucket = "kernels"
	VMs     Bucket = "vms"
	Leases  Bucket = "leases"
	Meta    Bucket = "meta"
	Volumes Bucket = "volumes"
	// Networks are user-defined networks (package networks), keyed by
	// name.
	Networks Bucket = "networks"
	// Events is the event journal (package events), keyed by sequence
	// number (SeqKey).
	Events Bucket = "events"
)

var buckets = []Bucket{Images, Kernels, VMs, Leases, Meta, Volumes, Networks, Events}

// Open opens (creating if needed) the database at path. It fails fast when
// another process holds the file.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open database %s: %w: another banger daemon holds it", path, errdefs.ErrConflict)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("init database %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Tx is a transaction. Read-only transactions refuse writes.
type Tx struct {
	tx *bolt.Tx
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Update runs fn in a read-write transaction; an error rolls it back.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx}) })
}

// Get reads the record at key into v. A missing key wraps ErrNotFound.
func (t *Tx) Get(b Bucket, key string, v any) error {
	data := t.tx.Bucket([]byte(b)).Get([]byte(key))
	if data == nil {
		return fmt.Errorf("%s %q: %w", singular(b), key, errdefs.ErrNotFound)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s %q: %w", singular(b), key, err)
	}
	return nil
}

// Has reports whether key exists.
func (t *Tx) Has(b Bucket, key string) bool {
	return t.tx.Bucket([]byte(b)).Get([]byte(key)) != nil
}

// Put writes v at key, replacing any record there.
func (t *Tx) Put(b Bucket, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s %q: %w", singular(b), key, err)
	}
	return t.tx.Bucket([]byte(b)).Put([]byte(key), data)
}

// Create writes v at key unless the key exists (ErrExists).
func (t *Tx) Create(b Bucket, key string, v any) error {
	if t.Has(b, key) {
		return fmt.Errorf("%s %q: %w", singular(b), key, errdefs.ErrExists)
	}
	return t.Put(b, key, v)
}

// Delete removes key; a missing key is not an error.
func (t *Tx) Delete(b Bucket, key string) error {
	return t.tx.Bucket([]byte(b)).Delete([]byte(key))
}

// ForEach calls fn with every key and raw record of b, in key order.
func (t *Tx) ForEach(b Bucket, fn func(key string, raw []byte) error) error {
	return t.tx.Bucket([]byte(b)).ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// Seek calls fn with every key and raw record of b from key from on
// (from the first when empty), in key order, until fn returns false or an
// error.
func (t *Tx) Seek(b Bucket, from string, fn func(key string, raw []byte) (bool, error)) error {
	c := t.tx.Bucket([]byte(b)).Cursor()
	k, v := c.First()
	if from != "" {
		k, v = c.Seek([]byte(from))
	}
	for ; k != nil; k, v = c.Next() {
		more, err := fn(string(k), v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Bounds returns the first and the last key of b; both are empty when b
// is.
func (t *Tx) Bounds(b Bucket) (first, last string) {
	c := t.tx.Bucket([]byte(b)).Cursor()
	k, _ := c.First()
	l, _ := c.Last()
	return string(k), string(l)
}

// PutRaw writes an encoded record at key.
func (t *Tx) PutRaw(b Bucket, key string, raw []byte) error {
	return t.tx.Bucket([]byte(b)).Put([]byte(key), raw)
}

// SeqKey is the key of sequence number n: big-endian, so key order is
// numeric order. SeqOf reads it back (0 for a key of another length).
func SeqKey(n uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return string(b[:])
}

// SeqOf is the sequence number of a SeqKey.
func SeqOf(key string) uint64 {
	if len(key) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64([]byte(key))
}

// List decodes every record of b, in key order.
func List[T any](t *Tx, b Bucket) ([]T, error) {
	var out []T
	err := t.ForEach(b, func(key string, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("decode %s %q: %w", singular(b), key, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// Get reads one record outside an explicit transaction.
func Get[T any](s *Store, b Bucket, key string) (T, error) {
	var v T
	err := s.View(func(t *Tx) error { return t.Get(b, key, &v) })
	return v, err
}

// ListAll lists one bucket outside an explicit transaction.
func ListAll[T any](s *Store, b Bucket) ([]T, error) {
	var out []T
	err := s.View(func(t *Tx) error {
		var err error
		out, err = List[T](t, b)
		return err
	})
	return out, err
}

// Put writes one record outside an explicit transaction.
func (s *Store) Put(b Bucket, key string, v any) error {
	return s.Update(func(t *Tx) error { return t.Put(b, key, v) })
}

// Delete removes one record outside an explicit transaction.
func (s *Store) Delete(b Bucket, key string) error {
	return s.Update(func(t *Tx) error { return t.Delete(b, key) })
}

func singular(b Bucket) string {
	switch b {
	case Images:
		return "image"
	case Kernels:
		return "kernel"
	case VMs:
		return "vm"
	case Leases:
		return "lease"
	case Volumes:
		return "volume"
	case Networks:
		return "network"
	case Events:
		return "event"
	default:
		return string(b)
	}
}
