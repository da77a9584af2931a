// Package machines makes simulated EC2 instances real booted Debian
// machines: the primitives the simulator's machine backend is built on.
//
//   - Store keeps images as filesystem layers in a cache directory.
//     BaseImage builds a Debian base with debootstrap (cached by its
//     Recipe's key, built once across processes under a file lock, renamed
//     into place whole); StackRecipe is the base plus the packages of
//     Ferry's server roles; Machine.Snapshot adds a layer from a machine (what
//     CreateImage makes); a layer in use by a machine, or under another
//     layer, cannot be deleted.
//   - Network is a network namespace of Ferry's own (named with Prefix)
//     with a bridge holding the subnets' router addresses and
//     MetadataAddr. The host namespace has no route into it: Go code
//     reaches machines with DialContext, serves them with Listen, and runs
//     commands among them with Command.
//   - Host boots machines (systemd-nspawn on an overlayfs of an image's
//     layers and a writable layer of its own, a veth on the bridge), writes
//     each machine's instance files before it boots (hostname, address,
//     admin's authorized keys, cloud-init's datasource and user data),
//     keeps its console, reports it Running when its systemd is ready, and
//     powers it off in order. Open cleans up what a killed process left
//     (namespaces, mounts, machines with Prefix whose lock is free), and
//     the layers a gone Host snapshotted with TransientSnapshots.
//
// It knows nothing of AWS's API, of instance ids or states beyond a
// machine's own life, of key pairs (it takes authorized_keys lines), of
// load balancers, or of the metadata service's contents: internal/awssim
// maps those onto these primitives. It must not import internal/awssim.
// Everything here needs root, overlayfs, debootstrap, systemd-nspawn and
// nsenter.
package machines
