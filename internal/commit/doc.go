// Package commit turns a VM's disk changes into a new image: `banger
// commit VM NAME[:TAG]`. The steps, each behind a small interface:
//
//  1. the VM's image as an OCI image (images.Service.OCI), checked first,
//     so an image that cannot take a layer (a rootfs import) fails before
//     anything is copied;
//  2. a consistent raw copy of the VM's disk (vms.Service.DiskCopy: the
//     guest synced, the machine paused for the copy only);
//  3. the layer: internal/layerdiff's Diff of the image's ext4 against the
//     copy, gzipped to a file once (its digest is read from the file);
//  4. the new image: mutate.Append of the layer with a history entry,
//     the --change instructions applied to its config, its creation time;
//  5. images.Service.Store, which records it through the pull pipeline
//     (blob cache, flatten, agent, ext4) like any pulled image.
//
// Everything is made in one private temporary directory, removed on every
// path; a failure leaves no image, no layer and no file.
package commit
