// Package layerdiff writes what changed between two ext4 images as an OCI
// layer: the tar (uncompressed) that, applied over the lower image's tree,
// gives the upper's. It is how `banger commit` and a build's RUN step turn
// a VM's disk into a layer on its image.
//
// Neither file is trusted: each is attached read-only to an autoclear loop
// device (dmsnap.AttachLoop) and mounted read-only, without journal replay
// (noload), nodev, nosuid and noexec, on a private temporary directory
// (mount.go, the commands built as data); every path unmounts what it
// mounted, and the loop device goes with its mount.
//
// The two trees are then walked together, each directory's names in sorted
// order, with Lstat (a symlink is never followed):
//
//   - a name only in lower becomes a whiteout (.wh.NAME); a directory whose
//     lower children are all gone (and none of them banger's) becomes an
//     opaque directory (.wh..wh..opq) instead of one whiteout per child;
//   - a name only in upper, or whose type changed (a directory replaced by
//     a file or the reverse), is written whole from upper, with everything
//     below it;
//   - a name in both is written from upper when its mode, owner, size,
//     modification time, link target, device number or extended attributes
//     differ, or — for a regular file whose metadata all agree but whose
//     change time differs — when its content differs (see changed).
//
// Every entry's parent directories are written before it, with upper's
// headers, so the layer extracts the same with any tool. A regular file
// with more than one link is written once and its other paths as tar
// hardlinks to it; when one path of such an inode changes, all of them are
// written, so the layer never relies on the lower image for a link. The
// entries come in walk order, so two diffs of the same images are byte
// identical.
//
// The paths banger writes into a guest (internal/guestpaths: /.banger,
// /etc/hostname, /etc/resolv.conf, and the file resolv.conf links to,
// which the agent writes through) are never in a layer, whatever happened
// to them; Options.Exclude adds more.
package layerdiff
