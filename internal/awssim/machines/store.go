package machines

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"
)

// DefaultCacheDir is where images are kept between runs.
const DefaultCacheDir = "/var/cache/ferry/machines"

var (
	// ErrLayerInUse is returned when deleting a layer a machine runs on.
	ErrLayerInUse = errors.New("layer is in use by a machine")
	// ErrLayerHasChildren is returned when deleting a layer another
	// layer's image is built on.
	ErrLayerHasChildren = errors.New("layer has layers built on it")
	// ErrNoLayer is returned for an unknown layer id.
	ErrNoLayer = errors.New("no such layer")
)

// Store keeps filesystem layers on disk: directories that overlayfs stacks
// into machines' roots. An image is named by its top layer; each layer
// names its parent, down to a base layer built from a Recipe.
//
//	DIR/layers/ID/layer.json   what the layer is (and the lock machines hold)
//	DIR/layers/ID/fs/          its files
//
// Machines hold a shared lock on layer.json of each layer they run on, so a
// layer in use is never deleted, by this process or another, and a machine
// killed with its process frees its layers with it.
type Store struct {
	dir string
	log *slog.Logger
}

// Layer is one stored filesystem layer.
type Layer struct {
	ID string `json:"id"`
	// Parent is the layer below this one; empty for a base layer.
	Parent  string    `json:"parent,omitempty"`
	Created time.Time `json:"created"`
	// Recipe is the key of the recipe a base layer was built from.
	Recipe string `json:"recipe,omitempty"`
	// From says what the layer was made from (a machine's name).
	From string `json:"from,omitempty"`
	// Host names the Host (its network's name) whose transient snapshot
	// the layer is (Options.TransientSnapshots): the next Open once that
	// Host is gone deletes it. Empty for a layer that outlives its maker.
	Host string `json:"host,omitempty"`
	// Dir holds the layer's files (not stored: it follows from the store).
	Dir string `json:"-"`
}

// OpenStore opens (creating it if needed) the store in dir; empty means
// DefaultCacheDir.
func OpenStore(dir string, log *slog.Logger) (*Store, error) {
	if dir == "" {
		dir = DefaultCacheDir
	}
	if err := os.MkdirAll(filepath.Join(dir, "layers"), 0o755); err != nil {
		return nil, fmt.Errorf("layer store: %w", err)
	}
	return &Store{dir: dir, log: log}, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) layerDir(id string) string { return filepath.Join(s.dir, "layers", id) }

func (s *Store) metaPath(id string) string { return filepath.Join(s.layerDir(id), "layer.json") }

// Layer reads one layer's description.
func (s *Store) Layer(id string) (Layer, error) {
	if !validID(id) {
		return Layer{}, fmt.Errorf("layer %q: %w", id, ErrNoLayer)
	}
	b, err := os.ReadFile(s.metaPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return Layer{}, fmt.Errorf("layer %s: %w", id, ErrNoLayer)
	}
	if err != nil {
		return Layer{}, err
	}
	var l Layer
	if err := json.Unmarshal(b, &l); err != nil {
		return Layer{}, fmt.Errorf("layer %s: %w", id, err)
	}
	l.Dir = filepath.Join(s.layerDir(id), "fs")
	return l, nil
}

// Chain returns the image whose top layer is id: that layer, its parent,
// and so on down to its base.
func (s *Store) Chain(id string) ([]Layer, error) {
	var chain []Layer
	for id != "" {
		l, err := s.Layer(id)
		if err != nil {
			return nil, err
		}
		chain = append(chain, l)
		id = l.Parent
		if len(chain) > 128 {
			return nil, fmt.Errorf("layer %s: chain too deep or looped", chain[0].ID)
		}
	}
	return chain, nil
}

// Layers lists every complete layer in the store.
func (s *Store) Layers() ([]Layer, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "layers"))
	if err != nil {
		return nil, err
	}
	var ls []Layer
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		l, err := s.Layer(e.Name())
		if errors.Is(err, ErrNoLayer) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// Lease keeps an image's layers from being deleted until Release.
type Lease struct {
	locks  []*flock.Flock
	Layers []Layer
}

// Acquire takes a shared lock on every layer of the image topped by id.
func (s *Store) Acquire(id string) (*Lease, error) {
	chain, err := s.Chain(id)
	if err != nil {
		return nil, err
	}
	l := &Lease{Layers: chain}
	for _, layer := range chain {
		fl := flock.New(s.metaPath(layer.ID), flock.SetFlag(os.O_RDONLY))
		ok, err := fl.TryRLock()
		if err != nil || !ok {
			l.Release()
			return nil, fmt.Errorf("lock layer %s: being deleted or %w", layer.ID, err)
		}
		l.locks = append(l.locks, fl)
	}
	return l, nil
}

// Release lets the layers go.
func (l *Lease) Release() {
	for _, fl := range l.locks {
		_ = fl.Close() // closing the descriptor drops the lock; nothing to lose
	}
	l.locks = nil
}

// Delete removes a layer, unless a machine runs on it or another layer is
// built on it.
func (s *Store) Delete(id string) error {
	if _, err := s.Layer(id); err != nil {
		return err
	}
	all, err := s.Layers()
	if err != nil {
		return err
	}
	for _, l := range all {
		if l.Parent == id {
			return fmt.Errorf("delete layer %s: %w (%s)", id, ErrLayerHasChildren, l.ID)
		}
	}
	fl := flock.New(s.metaPath(id), flock.SetFlag(os.O_RDONLY))
	ok, err := fl.TryLock()
	if err != nil {
		return fmt.Errorf("delete layer %s: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("delete layer %s: %w", id, ErrLayerInUse)
	}
	defer fl.Close()
	// Out of sight first, then removed: a crash halfway leaves a dot
	// directory that the next build or delete sweeps, never half a layer.
	trash := filepath.Join(s.dir, "layers", ".trash-"+id+"-"+randomHex(4))
	if err := os.Rename(s.layerDir(id), trash); err != nil {
		return fmt.Errorf("delete layer %s: %w", id, err)
	}
	s.log.Info("layer deleted", "layer", id)
	return removeTree(trash)
}

// newTemp makes a hidden working directory for a layer being made.
func (s *Store) newTemp(id string) (string, error) {
	tmp := filepath.Join(s.dir, "layers", ".tmp-"+id+"-"+randomHex(4))
	if err := os.MkdirAll(filepath.Join(tmp, "fs"), 0o755); err != nil {
		return "", err
	}
	return tmp, nil
}

// commit writes the layer's description into tmp and renames tmp into
// place, so a layer exists completely or not at all.
func (s *Store) commit(tmp string, l Layer) (Layer, error) {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return Layer{}, err
	}
	if err := renameio.WriteFile(filepath.Join(tmp, "layer.json"), append(b, '\n'), 0o644); err != nil {
		return Layer{}, err
	}
	if err := os.Rename(tmp, s.layerDir(l.ID)); err != nil {
		return Layer{}, fmt.Errorf("commit layer %s: %w", l.ID, err)
	}
	return s.Layer(l.ID)
}

// sweep removes what interrupted builds and deletes left behind for id.
func (s *Store) sweep(id string) error {
	var errs []error
	for _, pat := range []string{".tmp-" + id + "-*", ".trash-" + id + "-*"} {
		dirs, _ := filepath.Glob(filepath.Join(s.dir, "layers", pat))
		for _, d := range dirs {
			errs = append(errs, removeTree(d))
		}
	}
	return errors.Join(errs...)
}

func validID(id string) bool {
	if id == "" || len(id) > 128 || strings.HasPrefix(id, ".") {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
