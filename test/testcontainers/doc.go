// Package testcontainers runs testcontainers-go, unchanged, against
// banger's Docker Engine API socket. It is its own module so that
// testcontainers-go and its dependencies stay out of banger's go.mod;
// internal/e2e's TestTestcontainers runs it against the e2e daemon.
package testcontainers
