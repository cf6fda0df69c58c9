// Package volumes is what a VM mounts besides its image: host directories
// shared live (virtio-fs), named volumes (ext4 disks banger keeps), and
// directories copied into an ext4 image (`--mount type=image`).
package volumes
