package awssim

import (
	"encoding/json"
	"fmt"
	"time"
)

// Fault makes the simulator misbehave on the calls of one action, the way
// AWS does under load.
type Fault struct {
	// Action is the API action the fault applies to, e.g. "RunInstances"
	// or "DescribeInstanceHealth"; "autoscaling:*" (or "ec2:*", "elb:*",
	// "elbv2:*") applies it to every action of one service, "*" or "" to
	// every action. The most specific rule wins.
	Action string `json:"action"`
	// RatePerSecond and Burst, when RatePerSecond is set, throttle the
	// calls the rule covers with a token bucket shared by all of them, as
	// AWS does (Auto Scaling has one bucket per account and region for all
	// its APIs): Burst calls at once, then RatePerSecond (measured on the
	// simulator's Clock). Burst defaults to RatePerSecond, at least 1.
	RatePerSecond float64 `json:"ratePerSecond,omitempty"`
	Burst         int     `json:"burst,omitempty"`
	// ThrottleRate is the fraction (0–1) of calls answered with the
	// service's throttling error: RequestLimitExceeded (EC2, HTTP 503) or
	// Throttling "Rate exceeded" (Auto Scaling, ELB, ELBv2, HTTP 400).
	ThrottleRate float64 `json:"throttleRate,omitempty"`
	// ErrorRate is the fraction (0–1) of calls answered with a 5xx:
	// InternalError (EC2, 500), InternalFailure (Auto Scaling, 500) or
	// ServiceUnavailable (ELB, ELBv2, 503).
	ErrorRate float64 `json:"errorRate,omitempty"`
	// ErrorCode, when set, replaces the 5xx of ErrorRate with this AWS
	// error code (e.g. ResourceContention, ScalingActivityInProgress), sent
	// with ErrorStatus (default 400).
	ErrorCode   string `json:"errorCode,omitempty"`
	ErrorStatus int    `json:"errorStatus,omitempty"`
	// Latency is added to every call, before it is answered. In JSON it is
	// a duration string such as "250ms".
	Latency time.Duration `json:"-"`
}

// MarshalJSON writes Latency as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	type plain Fault
	v := struct {
		plain
		Latency string `json:"latency,omitempty"`
	}{plain: plain(f)}
	if f.Latency > 0 {
		v.Latency = f.Latency.String()
	}
	return json.Marshal(v)
}

// UnmarshalJSON reads Latency as a duration string ("250ms").
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	var v struct {
		plain
		Latency string `json:"latency,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Fault(v.plain)
	if v.Latency != "" {
		d, err := time.ParseDuration(v.Latency)
		if err != nil {
			return fmt.Errorf("fault latency: %w", err)
		}
		f.Latency = d
	}
	return nil
}

// injected returns the error a fault answers for svc, if any this time.
func (f Fault) injected(svc *service, bucketEmpty bool, roll func() float64) *APIError {
	if bucketEmpty || f.ThrottleRate > 0 && roll() < f.ThrottleRate {
		return svc.throttle
	}
	if f.ErrorRate > 0 && roll() < f.ErrorRate {
		if f.ErrorCode != "" {
			status := f.ErrorStatus
			if status == 0 {
				status = 400
			}
			return &APIError{Code: f.ErrorCode, Message: "Injected fault: " + f.ErrorCode, Status: status}
		}
		return svc.internal
	}
	return nil
}

func (f Fault) key() string {
	if f.Action == "" {
		return "*"
	}
	return f.Action
}

// SetFault sets (replaces) the fault rule of f.Action, with a full token
// bucket. A Fault with zero rates and no latency removes it.
func (s *Sim) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buckets, f.key())
	if f.ThrottleRate == 0 && f.ErrorRate == 0 && f.Latency == 0 && f.RatePerSecond == 0 {
		delete(s.faults, f.key())
		return
	}
	s.faults[f.key()] = f
}

// ClearFaults removes every fault: rules, capacity errors, the consistency
// window and never-healthy images.
func (s *Sim) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[string]Fault{}
	s.buckets = map[string]*bucket{}
	s.capErrors = 0
	s.consistency = 0
	s.neverHealthyImages = map[string]bool{}
}

// faultForLocked returns the rule for one call, and whether its token
// bucket (if it has one) refuses the call.
func (s *Sim) faultForLocked(svc, action string) (Fault, bool) {
	for _, key := range []string{action, svc + ":*", "*"} {
		f, ok := s.faults[key]
		if !ok {
			continue
		}
		if f.RatePerSecond <= 0 {
			return f, false
		}
		return f, !s.takeTokenLocked(key, f)
	}
	return Fault{}, false
}

// bucket is a token bucket of a rate-limited fault rule.
type bucket struct {
	tokens float64
	last   time.Time
}

func (s *Sim) takeTokenLocked(key string, f Fault) bool {
	burst := float64(f.Burst)
	if burst <= 0 {
		burst = max(1, f.RatePerSecond)
	}
	now := s.now()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: burst, last: now}
		s.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*f.RatePerSecond)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// SetCapacityErrors makes the next n instance launches (RunInstances calls
// and Auto Scaling launches) fail with InsufficientInstanceCapacity.
func (s *Sim) SetCapacityErrors(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.capErrors = n
}

// SetEventualConsistency makes instances launched from now on unknown, for
// d after their launch, to DescribeInstances (InvalidInstanceID.NotFound
// when asked by id) and to DescribeInstanceHealth (InvalidInstance), as AWS
// is right after RunInstances; and launch template versions created from
// now on unknown for d to DescribeLaunchTemplateVersions and to launches
// (InvalidLaunchTemplateId.VersionNotFound: Auto Scaling's launch fails,
// and it tries again). 0 turns it off.
func (s *Sim) SetEventualConsistency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consistency = d
}

// SetNeverHealthyImage makes instances launched from image id from now on
// fail every load balancer health check (and serve nothing). An id the
// simulator does not know becomes a public image (stub backend), so that
// it can be launched: a broken release's image. A malformed id does not
// (launching it stays InvalidAMIID.Malformed).
func (s *Sim) SetNeverHealthyImage(id string, never bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if never {
		s.neverHealthyImages[id] = true
		if s.imageLocked(id) == nil && !s.opts.Machines && imageIDs.wellFormed(id) {
			s.public[id] = &image{ID: id, Name: id, Owner: DebianImageOwner, State: "available", Tags: map[string]string{}}
		}
	} else {
		delete(s.neverHealthyImages, id)
	}
}

// SetInstanceNeverHealthy makes one instance fail (or pass again) every
// load balancer health check.
func (s *Sim) SetInstanceNeverHealthy(id string, never bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.st.Instances[id]
	if inst == nil {
		return false
	}
	inst.NeverHealthy = never
	return true
}

// takeCapacityErrorLocked reports whether this launch must fail.
func (s *Sim) takeCapacityErrorLocked() bool {
	if s.capErrors > 0 {
		s.capErrors--
		return true
	}
	return false
}

func insufficientCapacity(instanceType string) *APIError {
	return &APIError{Code: "InsufficientInstanceCapacity", Status: 500,
		Message: "We currently do not have sufficient " + instanceType + " capacity in the Availability Zone you requested. Our system will be working on provisioning additional capacity."}
}

// Second is how long one AWS second lasts in this simulator
// (Options.Second): a fault given in AWS seconds is this many on the wall
// clock.
func (s *Sim) Second() time.Duration { return s.opts.Second }
