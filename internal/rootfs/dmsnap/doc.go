// Package dmsnap gives a VM a writable copy of a shared read-only image as
// a device-mapper snapshot: a read-only loop device on the image (the
// origin), a read-write loop device on a sparse per-VM COW file, and a
// persistent `snapshot` target over both. Creating one costs a few
// ioctls, whatever the image's size, and the COW file holds only the
// blocks the guest wrote.
//
// The work is a Plan of values (names, table, steps) built by a pure
// function and executed by a Manager behind a small system interface.
// Every host object is named for its VM: dm devices `banger-<vm id>-<part>`
// with UUID `BANGER-<vm id>-<part>`, loop devices labelled the same way in
// their lo_file_name — so Remove finds and releases them from the VM id
// alone, after a crash at any point. Loop devices are attached with
// autoclear: once the dm table holds them, removing the dm device detaches
// them, and a loop device nobody holds (a crash between attach and create)
// detaches itself.
//
// device-mapper needs /dev/mapper/control and the dm-snapshot target;
// Available says whether the host has them. The build machines do not, so
// the tests assert plans and command lines as values and run the real
// thing only where device-mapper exists.
package dmsnap
