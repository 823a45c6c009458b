#ifndef LAYERBENCH_JEMALLOC_CONFIG_H
#define LAYERBENCH_JEMALLOC_CONFIG_H

/// The options this executable gives jemalloc at start-up (its `malloc_conf` string).
const char *layerbench_jemalloc_conf(void);

#endif
