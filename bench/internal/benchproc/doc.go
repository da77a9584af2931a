// Package benchproc holds what Ferry's black-box benchmarks (bench/idlebench,
// bench/biggroup, bench/latency) share to run and measure processes from
// outside: child processes in their own process group, CPU times and
// memory from /proc, free ports and polling waits, a git daemon, `ferry
// sim` and the simulator's admin endpoints.
package benchproc
