// Package e2e holds banger's end-to-end tests: the real CLI against a real
// daemon booting real QEMU guests with the Debian cloud kernel, images
// imported through the image pipeline and the guest agent built from this
// tree. Nothing is faked; the tests skip (or, with BANGER_TEST_STRICT=1,
// fail) when root, QEMU or the kernel package are missing.
package e2e
