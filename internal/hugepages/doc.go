// Package hugepages asks Linux to back the Go heap a large simulation will use with
// transparent huge pages.
//
// A simulation of thousands of members holds gigabytes of member tables and reads them at
// random: at 10,000 members a member's input starts with its state out of the caches, and
// with 4 KiB pages each such read also misses the TLB, whose page-table walk misses the
// caches in turn. Backed by 2 MiB pages, 10,000 converged members run about 15% faster
// (BenchmarkSimulator/n=10000, run_us/node/virtual_s: 17.9 and 18.8 against 21.5 and 21.7
// without, alternating); a 2,000-member join, whose tables are smaller, a few percent.
//
// Most distributions leave transparent huge pages to programs that ask for them
// (/sys/kernel/mm/transparent_hugepage/enabled is "madvise"), and the Go runtime does not
// ask for its heap. Heap asks for the heap a simulation is about to grow into: it
// allocates that much, so that the runtime maps it, advises the mapping with
// MADV_HUGEPAGE before any of it is touched, and frees it again. The runtime never
// unmaps heap memory, so the advice stays with those addresses, and the member tables
// later built there are faulted in as huge pages. Elsewhere than Linux Heap does nothing.
package hugepages
