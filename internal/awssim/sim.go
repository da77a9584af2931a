package awssim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ferry-deploy/ferry/internal/awssim/imds"
)

// Sim is one simulated AWS account in one region: its resources, the Auto
// Scaling control loop, load balancer health checks, the instances' apps and
// the balancers' listeners. It is an http.Handler answering the EC2, Auto
// Scaling, ELB and ELBv2 query APIs and SSM's awsJson one.
type Sim struct {
	opts     Options
	log      *slog.Logger
	services map[string]*service // by API version; read-only
	targets  map[string]*service // awsJson services by X-Amz-Target prefix; read-only
	backend  backend             // what instances are; set once by New
	// keys mints the credentials of instance profiles (the metadata
	// service's, with machines) and finds them again.
	keys *imds.Keyring

	mu                 sync.Mutex // guards everything below
	st                 *state
	rnd                *rand.Rand
	zoneRnd            *rand.Rand         // ties between zones, apart so faults keep their sequence
	faults             map[string]Fault   // by action, "service:*" or "*"
	buckets            map[string]*bucket // token buckets of rate-limited faults, by rule
	capErrors          int                // launches left to fail with InsufficientInstanceCapacity
	consistency        time.Duration      // eventual-consistency window for new instances
	neverHealthyImages map[string]bool
	public             map[string]*image // public images by id, not the account's (ec2_public_images.go)
	counts             map[string]int64
	calls              []Call                // the latest requests, oldest first, at most maxCalls
	apps               map[string]*appServer // running instance apps, by instance id
	proxies            map[string]*lbProxy   // balancer listeners, by "elb/name" or "tg/arn" (proxy.go)
	lbCert             *tls.Certificate      // of the HTTPS listeners, made when first needed
	dirty              bool
	afterUnlock        []func() // work a Locked method asks to run once s.mu is released
	reqSeq             uint64

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// New creates a simulator. With opts.StateFile set, the account saved there
// is loaded. Call Start to run its control loop and Close to stop it.
func New(opts Options, logger *slog.Logger) (*Sim, error) {
	opts = opts.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, pi := range opts.PublicImages {
		if !imageIDs.wellFormed(pi.ID) {
			return nil, fmt.Errorf("awssim: public image %q is not an AMI id (ami- and 8 or 17 lowercase hexadecimal digits): EC2 would refuse it as malformed", pi.ID)
		}
	}
	st := newState()
	if opts.StateFile != "" {
		var err error
		if st, err = loadState(opts.StateFile); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{
		opts:               opts,
		services:           services(),
		targets:            jsonServices(),
		log:                logger,
		st:                 st,
		rnd:                rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		zoneRnd:            rand.New(rand.NewPCG(uint64(opts.Seed), 0x20e5)),
		faults:             map[string]Fault{},
		buckets:            map[string]*bucket{},
		neverHealthyImages: map[string]bool{},
		public:             publicImagesOf(opts),
		counts:             map[string]int64{},
		apps:               map[string]*appServer{},
		proxies:            map[string]*lbProxy{},
		ctx:                ctx,
		cancel:             cancel,
	}
	for _, f := range opts.Faults {
		s.faults[f.key()] = f
	}
	for id, img := range s.public {
		if st.PublicImageTags[id] != nil {
			s.publicImageTagsLocked(img) // the account's tags on it, from the state file
		}
	}
	s.keys = imds.NewKeyring(s.now)
	s.ensureDefaultsLocked()
	s.backend = stubBackend{s}
	if opts.Machines {
		mb, err := openMachineBackend(ctx, s)
		if err != nil {
			cancel()
			return nil, err
		}
		s.backend = mb
	}
	return s, nil
}

// Start runs the control loop until Close, and restarts what a loaded state
// needs: balancer listeners and the apps of running instances.
func (s *Sim) Start() error {
	s.mu.Lock()
	var errs []error
	for _, name := range sortedKeys(s.st.ELBs) {
		if err := s.startProxyLocked("elb/" + name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, arn := range sortedKeys(s.st.TargetGroups) {
		if err := s.startProxyLocked("tg/" + arn); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range sortedKeys(s.st.Instances) {
		if inst := s.st.Instances[id]; inst.State == stateRunning {
			s.backend.runningLocked(inst)
		}
	}
	s.mu.Unlock()
	s.runAfterUnlock()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s.wg.Add(1)
	go s.loop()
	return nil
}

// Close stops the control loop, the instances (apps, or machines powered
// off) and the listeners, and saves the state when a StateFile is set.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	proxies := s.proxies
	s.proxies = map[string]*lbProxy{}
	var err error
	if s.opts.StateFile != "" {
		err = saveState(s.opts.StateFile, s.st)
	}
	s.mu.Unlock()
	for _, p := range proxies {
		p.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	return errors.Join(err, s.backend.close(ctx))
}

// closeTimeout bounds how long Close waits for instances to stop (machines
// power off in parallel, each killed after its own stop timeout).
const closeTimeout = 2 * time.Minute

func (s *Sim) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	lastSave := s.now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		s.stepLocked()
		var save *state
		if s.opts.StateFile != "" && s.dirty && s.now().Sub(lastSave) >= s.opts.SaveInterval {
			save = s.st
			if err := saveState(s.opts.StateFile, save); err != nil {
				s.log.Error("awssim: saving state", "err", err)
			}
			s.dirty = false
			lastSave = s.now()
		}
		s.mu.Unlock()
		s.runAfterUnlock()
	}
}

// Step runs one pass of the control loop at once (tests that drive time
// with their own Clock call it after moving the clock).
func (s *Sim) Step() {
	s.mu.Lock()
	s.stepLocked()
	s.mu.Unlock()
	s.runAfterUnlock()
}

// stepLocked advances every resource to the present.
func (s *Sim) stepLocked() {
	now := s.now()
	s.advanceInstancesLocked(now)
	s.advanceImagesLocked(now)
	for _, name := range sortedKeys(s.st.Groups) {
		s.reconcileGroupLocked(s.st.Groups[name], now)
	}
	s.advanceHealthLocked(now)
	s.dirty = true
}

func (s *Sim) runAfterUnlock() {
	for {
		s.mu.Lock()
		fs := s.afterUnlock
		s.afterUnlock = nil
		s.mu.Unlock()
		if len(fs) == 0 {
			return
		}
		for _, f := range fs {
			f()
		}
	}
}

func (s *Sim) now() time.Time { return s.opts.Clock.Now().UTC() }

// newIDLocked returns a fresh resource id such as i-0a000000000000001.
func (s *Sim) newIDLocked(prefix string) string {
	s.st.Seq++
	return fmt.Sprintf("%s-0a%015x", prefix, s.st.Seq)
}

// ensureDefaultsLocked creates what every account has: the default VPC's
// default security group.
func (s *Sim) ensureDefaultsLocked() {
	for _, g := range s.st.SecurityGroups {
		if g.Name == "default" {
			return
		}
	}
	id := s.newIDLocked("sg")
	s.st.SecurityGroups[id] = &securityGroup{ID: id, Name: "default", Description: "default VPC security group", VpcID: defaultVPCID, Tags: map[string]string{}}
}

// Counts returns how many requests each action received, keyed
// "service:Action" (e.g. "autoscaling:DescribeAutoScalingGroups").
func (s *Sim) Counts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Call is one request the simulator received: when (the wall clock, not
// the simulated one, so that another process can set it against its own
// events), which action ("service:Action") and, when the request names
// one, which Auto Scaling group.
type Call struct {
	Time   time.Time `json:"time"`
	Action string    `json:"action"`
	Group  string    `json:"group,omitempty"`
}

// maxCalls bounds the request log: enough for a benchmark to read the
// calls of the last deploy.
const maxCalls = 4096

// Calls returns the requests received after since, oldest first, from the
// latest maxCalls.
func (s *Sim) Calls(since time.Time) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.calls, since, func(c Call, t time.Time) int {
		if c.Time.After(t) {
			return 1
		}
		return -1
	})
	return slices.Clone(s.calls[i:])
}

// ResetCounts zeroes the request counters.
func (s *Sim) ResetCounts() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[string]int64{}
}

// Handler returns the simulator as an http.Handler.
func (s *Sim) Handler() http.Handler { return s }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
