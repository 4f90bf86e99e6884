// jemalloc's built-in options for Strata's binaries, read by jemalloc when the
// process starts (the MALLOC_CONF environment variable still overrides them).
//
// thp:always backs jemalloc's arenas with transparent huge pages wherever the
// kernel allows it (THP "madvise", Debian's default, or "always"). A projection
// replay allocates and frees hundreds of megabytes per commit; with 4 KiB pages
// every commit pays tens of thousands of page faults, which are expensive in a
// virtual machine. Measured on the history rebuild (docs/benchmarks.md): 15.5 to
// 15.9 us of CPU per event instead of 19.7 to 20.8, for a peak RSS of 488 MB
// instead of 467 MB.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "thp:always";
}
