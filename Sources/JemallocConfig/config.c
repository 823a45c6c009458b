#include "JemallocConfig.h"

// jemalloc reads this symbol before the first allocation (it overrides the library's weak
// default). Freed pages are returned to the kernel after 1 s instead of jemalloc's 10 s
// (dirty_decay_ms), and directly rather than through lazily reclaimed MADV_FREE pages
// (muzzy_decay_ms:0), so the resident figures of a run measure live data, not freed pages kept
// for reuse; `layerbench version` and run.json print the values jemalloc took.
const char *malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";

const char *layerbench_jemalloc_conf(void) { return malloc_conf; }
