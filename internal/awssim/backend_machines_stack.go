package awssim

import "github.com/ferry-deploy/ferry/internal/awssim/machines"

// StackImageTag holds the Debian suite of the simulator's stack image
// (Options.StackImage): the base image with every Debian package of
// Ferry's server roles (pkg/roles) installed and none of their services
// enabled, for machines that cannot reach a mirror to run role recipes on.
const StackImageTag = "ferry:stack-image"

// registerStackImageLocked registers the stack layer as an available AMI
// beside the base image, unless the account already has it.
func (s *Sim) registerStackImageLocked(layer machines.Layer) *image {
	for _, id := range sortedKeys(s.st.Images) {
		if img := s.st.Images[id]; img.Layer == layer.ID && img.State == "available" {
			return img
		}
	}
	r := machines.StackRecipe()
	now := s.now()
	img := &image{
		ID: s.newIDLocked("ami"), Name: "debian-" + r.Suite + "-ferry-stack-" + r.Key()[:12],
		Description: "Debian " + r.Suite + " built by Ferry's simulator with the packages of Ferry's server roles (nginx, gunicorn, Django, Celery, Redis, RabbitMQ, PostgreSQL, PgBouncer, stunnel), their services disabled",
		State:       "available", Created: now, ReadyAt: now, Layer: layer.ID,
		Tags: map[string]string{StackImageTag: r.Suite, RecipeTag: r.Key()},
	}
	s.newSnapshotLocked(img, "Root volume of "+img.Name, nil)
	s.st.Snapshots[img.Snapshot].State = "completed"
	s.st.Images[img.ID] = img
	return img
}

// cached reports whether layer is one of the images the cache keeps
// whatever the account does: the base and the stack image.
func (b *machineBackend) cached(layer string) bool {
	return layer == b.base.ID || (b.stack.ID != "" && layer == b.stack.ID)
}
