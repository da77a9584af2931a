// Package benchproc holds what Ferry's black-box benchmarks (bench/idlebench,
// bench/biggroup) share to run and measure processes from outside: child
// processes in their own process group, CPU times and memory from /proc,
// free ports and polling waits. It knows nothing of Ferry itself.
package benchproc
